"""The no-LLM mapper: demo rows mapped onto the example tasks' fields and labels."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from taskforge import Task
from taskforge._transform import (
    Mapper,
    SampleError,
    TransformSettings,
    label_names_from_readme,
    map_row,
    transform,
)
from taskforge.testing import demo_items

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO = Path(__file__).resolve().parents[1] / "demo" / "sources"
NLI_MAP = {"contradiction": "not_entailment", "neutral": "not_entailment"}
# the three-label NLI task written the natural way: plain strings of two parts, no output_schema
NLI3 = Task.from_dict(
    {
        "name": "nli3",
        "instruction": "Does the premise entail the hypothesis, contradict it, or neither?",
        "examples": [
            {
                "input": "Premise: A man is playing a guitar on stage.\nHypothesis: A man performs music.",
                "output": "entailment",
            },
            {
                "input": "Premise: Two dogs run through a snowy field.\nHypothesis: The dogs are asleep indoors.",
                "output": "contradiction",
            },
            {
                "input": "Premise: A woman reads a book in a park.\nHypothesis: The woman is a teacher.",
                "output": "neutral",
            },
        ],
    }
)


@pytest.fixture(scope="module")
def embedder():
    from taskforge._embed import Embedder

    return Embedder.load(None)


def task(name: str) -> Task:
    return Task.load(EXAMPLES / f"{name}.yaml")


def mapped(task_: Task, items: list[dict], embedder, **settings) -> tuple[Mapper, list]:
    mapper = Mapper(task_, TransformSettings(**settings), embedder)
    return mapper, list(mapper.map_items(items))


def test_snli_onto_nli_with_label_map(embedder) -> None:
    items = demo_items(DEMO, "snli_dev", 60)
    mapper, res = mapped(task("nli"), items, embedder, label_map=NLI_MAP)
    assert mapper.plans["snli_dev"].columns == {
        "premise": "premise",
        "hypothesis": "hypothesis",
        "label": "label",
    }
    assert all(err is None for _, _, err in res)
    for item, out, _ in res:
        assert out["input"] == {"premise": item["row"]["premise"], "hypothesis": item["row"]["hypothesis"]}
        want = "entailment" if item["row"]["label"] == "entailment" else "not_entailment"
        assert out["output"] == {"label": want}


def test_snli_onto_two_way_nli_without_a_label_map(embedder) -> None:
    """3-way onto 2-way: the task's not_entailment absorbs SNLI's neutral and contradiction."""
    items = demo_items(DEMO, "snli_dev", 30)
    mapper, res = mapped(task("nli"), items, embedder)
    assert all(err is None for _, _, err in res)
    for item, out, _ in res:
        want = "entailment" if item["row"]["label"] == "entailment" else "not_entailment"
        assert out["output"]["label"] == want
    rules = mapper.plans["snli_dev"].labels.rules
    assert rules["entailment"] == "exact" and rules["neutral"] == rules["contradiction"] == "absorbed"


def test_scitail_onto_nli(embedder) -> None:
    items = demo_items(DEMO, "scitail_test", 40)
    mapper, res = mapped(task("nli"), items, embedder)
    assert mapper.plans["scitail_test"].columns["premise"] == "premise"
    assert mapper.plans["scitail_test"].columns["hypothesis"] == "hypothesis"
    for item, out, err in res:
        assert err is None
        assert out["output"]["label"] == item["row"]["label"]
        assert out["input"]["hypothesis"] == item["row"]["hypothesis"]


def test_gsm8k_onto_math(embedder) -> None:
    items = demo_items(DEMO, "gsm8k", 40)
    mapper, res = mapped(task("math"), items, embedder)
    assert mapper.plans["gsm8k"].columns == {"input": "question", "output": "answer"}
    item, out, _ = res[0]
    assert out == {"input": item["row"]["question"], "output": item["row"]["answer"]}


def test_boolq_onto_yes_no_qa(embedder) -> None:
    items = demo_items(DEMO, "boolq", 40)
    mapper, res = mapped(task("yesno_qa"), items, embedder)
    assert mapper.plans["boolq"].columns == {"passage": "passage", "question": "question", "answer": "answer"}
    for item, out, err in res:
        assert err is None
        assert out["output"]["answer"] == ("yes" if item["row"]["answer"] else "no")
        assert out["input"]["question"] == item["row"]["question"]


def test_numeric_labels_through_the_sources_readme(embedder) -> None:
    assert label_names_from_readme(DEMO / "snli_dev" / "README.md") == [
        "entailment",
        "neutral",
        "contradiction",
    ]
    ids = {"entailment": 0, "neutral": 1, "contradiction": 2}
    items = demo_items(DEMO, "snli_dev", 30)
    for it in items:
        it["row"] = {**it["row"], "label": ids[it["row"]["label"]]}
        it["cells"] = {k: v for k, v in it["cells"].items() if k != "label"}
    _, res = mapped(task("nli"), items, embedder, label_map=NLI_MAP, sources_dir=DEMO)
    for item, out, err in res:
        assert err is None
        assert out["output"]["label"] == ("entailment" if item["row"]["label"] == 0 else "not_entailment")
    # without the names the ids cannot be mapped, and every row says so
    _, res = mapped(task("nli"), items, embedder, label_map=NLI_MAP)
    assert all(out is None and err.category == "no column" for _, out, err in res)


def test_map_row_alone_and_a_bad_label_map(embedder) -> None:
    item = demo_items(DEMO, "scitail_test", 1)[0]
    out = map_row(task("nli"), item, mapper=Mapper(task("nli"), None, embedder))
    assert out["input"]["premise"] == item["row"]["premise"]
    with pytest.raises(ValueError, match="label_map"):
        Mapper(task("nli"), TransformSettings(label_map={"neutral": "nope"}), embedder)
    bad = {**item, "row": {**item["row"], "premise": ""}, "cells": {**item["cells"], "premise": ""}}
    mapper = Mapper(task("nli"), None, embedder)
    mapper.plan("scitail_test", demo_items(DEMO, "scitail_test", 20))
    with pytest.raises(SampleError, match="empty field"):
        mapper.map_item(bad, mapper.plans["scitail_test"])


def test_transform_with_the_mapper_writes_samples_and_rejects(tmp_path: Path, embedder) -> None:
    items = demo_items(DEMO, "snli_dev", 50) + demo_items(DEMO, "scitail_test", 50)
    for rank, it in enumerate(items, 1):
        it["rank"] = rank
    retrieved = tmp_path / "items.jsonl"
    retrieved.write_text("".join(json.dumps(it) + "\n" for it in items))
    t0 = time.perf_counter()
    res = transform(
        NLI3, retrieved, tmp_path / "samples.jsonl", settings=TransformSettings(), embedder=embedder
    )
    seconds = time.perf_counter() - t0
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    rejects = [json.loads(line) for line in (tmp_path / "rejects.jsonl").read_text().splitlines()]
    assert res.method == "mapper" and res.items == 100
    assert len(samples) + len(rejects) == 100 == res.samples + res.rejects
    assert set(res.rejects_by_reason) == {"unmappable label"}
    assert [s["provenance"]["rank"] for s in samples] == sorted(s["provenance"]["rank"] for s in samples)
    s = samples[0]
    assert (
        s["id"].startswith("s-")
        and s["provenance"]["method"] == "mapper"
        and s["provenance"]["model"] is None
    )
    assert set(s["provenance"]) >= {"source", "row_id", "rank", "scores", "prompt_hash", "sample_index"}
    r = rejects[0]
    assert (
        r["stage"] == "transform"
        and r["item"]["source"] == "scitail_test"
        and r["reason"].startswith("unmappable")
    )
    # SciTail's not_entailment is neutral or contradiction: never guessed, counted in the report
    assert {s["output"] for s in samples} == {"entailment", "neutral", "contradiction"}
    report = json.loads((tmp_path / "label_report.json").read_text())
    n_not = sum(
        1 for it in items if it["source"] == "scitail_test" and it["row"]["label"] == "not_entailment"
    )
    assert report["unmapped"] == {"not_entailment": n_not} == {"not_entailment": len(rejects)}
    assert sorted(report["ambiguous"]["not_entailment"]) == ["contradiction", "neutral"]
    print(f"mapper: {res.items / seconds:.0f} items/s including planning")


def test_plain_string_task_with_labels(embedder) -> None:
    task_ = Task.from_dict(
        {
            "name": "yn",
            "instruction": "Answer the question with yes or no.",
            "examples": [
                {"input": "is the sky blue", "output": "yes"},
                {"input": "do fish fly", "output": "no"},
            ],
            "output_schema": {"output": {"labels": ["yes", "no"]}},
        }
    )
    mapper, res = mapped(task_, demo_items(DEMO, "boolq", 20), embedder)
    assert mapper.plans["boolq"].columns == {"input": "question", "output": "answer"}
    item, out, _ = res[0]
    assert out == {"input": item["row"]["question"], "output": "yes" if item["row"]["answer"] else "no"}
