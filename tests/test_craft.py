"""CRAFT, faithfully: few-shot files as document + sample, the prompt layout, what retrieval embeds,
and the retrieval mix against a transcription of the paper's code on a toy case."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from taskforge import Task, TransformSettings, retrieve
from taskforge._cells import document_text
from taskforge._retrieval import embed_task, example_keys
from taskforge._retrieval._documents import best_passages
from taskforge._retrieval._select import Selector, normalize
from taskforge._transform import PromptBuilder
from taskforge._transform._parsing import validate_sample
from taskforge.testing import HashEmbedder, MemoryStore

CRAFT_EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "craft"


@pytest.fixture(scope="module")
def mcqa() -> Task:
    return Task.load(CRAFT_EXAMPLES / "mcqa.yaml")


def _fewshot_lines(name: str) -> list[dict]:
    path = CRAFT_EXAMPLES / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["mcqa", "tldr", "recipes"])
def test_shipped_craft_tasks_load_with_8_plus_documents(name: str) -> None:
    task = Task.load(CRAFT_EXAMPLES / f"{name}.yaml")
    assert len(task.examples) >= 8 and all(e.document for e in task.examples)
    assert task.input_fields == ["input"] and task.output_fields == ["output"]


def _document_item(text: str, passage: str) -> dict:
    return {
        "rank": 1,
        "source": "wiki",
        "row_id": "docs.jsonl:7",
        "global_row": 7,
        "row": {"title": "Volcano", "passage": text},
        "cells": {"title": "Volcano", "passage": text},
        "text": text,
        "passage": {"index": 1, "of": 2, "text": passage, "score": 0.61},
        "scores": {"final": 0.4},
        "method": "craft",
        "picked_by": "example 2",
    }


def test_craft_file_prompt_shows_documents_then_samples_then_the_matched_passage(mcqa: Task) -> None:
    lines = _fewshot_lines("mcqa_fewshots.jsonl")
    doc = "A volcano is an opening in the crust. " * 5 + "Lava is molten rock that reaches the surface."
    item = _document_item(doc, "Lava is molten rock that reaches the surface.")
    msgs = PromptBuilder(mcqa, TransformSettings()).messages(item)  # style auto: craft for documents
    assert [m["role"] for m in msgs] == ["system", *(["user", "assistant"] * 3), "user"]
    assert mcqa.instruction in msgs[0]["content"]
    by_text = {ln["Text"]: ln for ln in lines}
    for user, assistant in zip(msgs[1:-1:2], msgs[2:-1:2], strict=True):
        shown = user["content"].removeprefix("Document:\n")
        line = by_text[shown]  # the user turn is the few-shot's document, exactly
        # the assistant turn is the sample, Instruction -> Output, and nothing of the document
        assert json.loads(assistant["content"]) == {"input": line["Instruction"], "output": line["Output"][0]}
        assert line["Text"] not in assistant["content"]
    assert msgs[-1]["content"] == "Document:\nLava is molten rock that reaches the surface."
    whole = PromptBuilder(mcqa, TransformSettings(context="document")).messages(item)
    assert whole[-1]["content"] == "Document:\n" + doc


def test_craft_samples_are_instruction_to_output_only(mcqa: Task) -> None:
    inp, out, _ = validate_sample(
        mcqa, {"input": "Which gas do plants take in?\nA. CO2\nB. O2", "output": "a"}
    )
    assert (inp, out) == ("Which gas do plants take in?\nA. CO2\nB. O2", "A")
    assert mcqa.to_yaml().count("document:") == len(mcqa.examples)  # kept in the run's task.yaml
    assert all(set(e.model_dump(exclude={"document"})) == {"input", "output"} for e in mcqa.examples)


class RecordingEmbedder(HashEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.seen.extend(texts)
        return super().encode(texts, batch_size)


def test_retrieval_embeds_the_few_shots_documents(mcqa: Task) -> None:
    emb = RecordingEmbedder()
    q = embed_task(mcqa, emb)
    docs = [e.document for e in mcqa.examples]
    assert set(docs) <= set(emb.seen)
    np.testing.assert_allclose(q.examples, emb.encode(docs), atol=1e-6)  # "examples" = the documents
    np.testing.assert_allclose(q.inputs, emb.encode([e.input for e in mcqa.examples]), atol=1e-6)
    assert normalize(docs[0]) in example_keys(mcqa)  # a few-shot's own document is never retrieved back
    plain = Task.from_dict({"name": "t", "instruction": "x", "examples": [{"input": "2+2?", "output": "4"}]})
    np.testing.assert_allclose(embed_task(plain, emb).examples, emb.encode(["2+2?\n4"]), atol=1e-6)


# ---- the retrieval mix against the paper's code ---------------------------------------------------
def paper_code_union(sims: np.ndarray, k: int, overfetch: float = 1.2) -> set[int]:
    """CRAFT's ``retrieve.top_k_indices`` over one database split (the top-p pre-filter keeps all):
    ``mixed_k = int(k / 2 * 1.2)``; each few-shot's top ``mixed_k // F`` and the top ``mixed_k`` by
    mean similarity; the union of index sets. ``overfetch=1.0`` is the same mix without the spare."""
    f = sims.shape[0]
    mixed_k = int(k / 2 * overfetch)
    separate = {int(i) for row in sims for i in np.argsort(-row, kind="stable")[: mixed_k // f]}
    mean = {int(i) for i in np.argsort(-sims.mean(axis=0), kind="stable")[:mixed_k]}
    return separate | mean


class ArrayEmbedder:
    """Fixed vectors for named texts (a toy embedding space); anything else gets the last axis."""

    name, dim = "toy", 4

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        other = np.array([0, 0, 0, 1], dtype=np.float32)
        return np.stack([self.table.get(t, other) for t in texts]).astype(np.float32)


def _toy(sims: np.ndarray) -> tuple[Task, MemoryStore]:
    """Documents whose cosines to two few-shot documents are exactly ``sims`` (2 x N)."""
    table = {"shot one": np.array([1, 0, 0, 0.0]), "shot two": np.array([0, 1, 0, 0.0])}
    rows = []
    for j, (a, b) in enumerate(sims.T):
        table[f"doc {j}"] = np.array([a, b, np.sqrt(1 - a * a - b * b), 0.0])
        rows.append({"text": f"doc {j}"})
    store = MemoryStore([("toy", "toy documents", rows)], ArrayEmbedder(table))
    task = Task.from_dict(
        {
            "name": "toy",
            "instruction": "toy task",
            "examples": [
                {"input": "q1", "output": "a1", "document": "shot one"},
                {"input": "q2", "output": "a2", "document": "shot two"},
            ],
        }
    )
    return task, store


def test_craft_mix_matches_the_papers_code_on_a_toy_case() -> None:
    # doc 0 is in both few-shots' top 2: the paper's union takes it once, for both
    s1 = [0.70, 0.65, 0.10, 0.42, 0.30, 0.22, 0.14, 0.04, 0.52, 0.00, 0.18, 0.26]
    s2 = [0.68, 0.04, 0.66, 0.40, 0.38, 0.30, 0.10, 0.58, 0.02, 0.01, 0.46, 0.20]
    sims = np.array([s1, s2])
    task, store = _toy(sims)
    k = 8
    res = retrieve(task, store, n=k, method="craft", show=False)
    got = {int(it["row_id"].split(":")[1]) for it in res.items}
    core = paper_code_union(sims, k, overfetch=1.0)
    assert core == {0, 1, 2, 3}  # tops {0, 1} and {0, 2}, and the top 4 by mean {0, 3, 2, 1}
    assert paper_code_union(sims, k) == core  # the code's 20% spare rounds away here: 4 of 8 asked
    # ours: exactly the paper's mix, topped up to k from the mean list
    assert got == {0, 1, 2, 3} | {4, 10, 7, 8} and len(res.items) == k
    picked = {int(it["row_id"].split(":")[1]): it["picked_by"] for it in res.items}
    assert picked[0] == "example 1" and picked[1] == "example 1" and picked[2] == "example 2"
    assert {picked[i] for i in (3, 4, 10, 7, 8)} == {"mean"}


@pytest.mark.parametrize("seed", range(5))
def test_craft_mix_equals_the_papers_union_when_the_lists_do_not_overlap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_docs, k = 40, 12
    sims = rng.uniform(0.0, 0.7, size=(2, n_docs))
    task, store = _toy(sims)
    res = retrieve(task, store, n=k, method="craft", show=False)
    got = {int(it["row_id"].split(":")[1]) for it in res.items}
    core = paper_code_union(sims, k, overfetch=1.0)
    mean_order = [int(i) for i in np.argsort(-sims.mean(axis=0), kind="stable")]
    if len(core) == k:  # no document in two lists: the very same set
        assert got == core
    else:  # overlaps: the same mix, then the next documents by mean similarity
        assert got == core | set([i for i in mean_order if i not in core][: k - len(core)])


def test_quota_counts_taken_rows_where_they_rank() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5], dtype=np.float32)
    sel = Selector(
        n=10,
        row_source=np.zeros(5, np.int32),
        row_ok=np.ones(5, bool),
        fetch=lambda rows: [{"text": f"doc {r}"} for r in rows],
    )
    sel.fill(np.array([0, 0, 0, 1.0, 0], np.float32), 1)  # an earlier list took row 3
    sel.fill(scores, 3, count_taken=True)  # top 3 of this list is rows 0, 1, 2: row 3 ranks 4th
    assert list(sel.taken) == [3, 0, 1, 2]
    sel.fill(np.array([0.1, 0.2, 0.3, 0.9, 0.0], np.float32), 2, count_taken=True)  # 3 counts, then 2
    assert list(sel.taken) == [3, 0, 1, 2]


def test_best_passages_matches_a_loop() -> None:
    rng = np.random.default_rng(0)
    per_doc = rng.integers(1, 5, size=30)
    vector_row = np.repeat(np.arange(30), per_doc)
    vector_column = np.concatenate([np.arange(c) for c in per_doc])
    vectors = rng.normal(size=(len(vector_row), 8)).astype(np.float32)
    rows = np.array([4, 0, 29, 17])
    queries = rng.normal(size=(4, 8)).astype(np.float32)
    index, score = best_passages(vectors, vector_row, vector_column, rows, queries)
    for r, q, p, s in zip(rows, queries, index, score, strict=True):
        sims = vectors[vector_row == r] @ q
        assert p == int(np.argmax(sims)) and s == pytest.approx(float(sims.max()), abs=1e-5)


def test_text_column_picks_the_document() -> None:
    cells = {"title": "Bok choy", "passage": "Bok choy is a type of Chinese cabbage.", "question": "is it?"}
    assert document_text(cells, ["article", "passage"]) == cells["passage"]
    assert document_text(cells).startswith("title: Bok choy\n")  # without it: name: value lines


def test_text_column_needs_a_documents_store(tmp_path: Path) -> None:
    from taskforge import UsageError, build_datastore

    with pytest.raises(UsageError, match="--kind documents"):
        build_datastore([tmp_path], tmp_path / "ds", text_column="passage")
