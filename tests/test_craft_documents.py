"""Documents end to end: a real documents store (--text-column), retrieval that returns each document
once with the passage that matched, and three tasks made from text through ``run`` with the fake LLM
server (multiple-choice QA, summarisation, recipes), the generation tasks trained and evaluated with
ROUGE-L and an LLM-judge win rate against the few-shot outputs."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from taskforge import Datastore, RunSettings, Task, build_datastore, retrieve, run
from taskforge._cells import split_passages
from taskforge.testing import FakeLLMServer, last_user_message, make_tiny_causal_lm, system_prompt

REPO = Path(__file__).resolve().parents[1]
CRAFT = REPO / "examples" / "craft"
DEMO = REPO / "demo" / "sources"
RECIPE_DOCS = Path(__file__).resolve().parent / "data" / "recipe_docs"

VOLCANO_SHOT = (
    "A volcano is a rupture in the crust of a planet that lets hot lava, volcanic ash and gases "
    "escape from a magma chamber below the surface."
)
VOLCANO_LONG = " ".join(
    [
        "Stratovolcanoes are tall conical volcanoes built up by many layers of hardened lava and ash.",
        *[f"The town market sold bread, cheese and apples on day {i} of the fair." for i in range(20)],
        "The eruption sent lava flows and clouds of volcanic ash down the flanks of the volcano.",
        *[f"Council minutes recorded item {i} about parking permits and street lights." for i in range(20)],
        "Magma rising from the chamber below the volcano feeds each eruption of lava and gas.",
    ]
)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def docs_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Boolq passages, SciTLDR abstracts, recipe texts and a small encyclopedia: one documents store."""
    root = tmp_path_factory.mktemp("craft_docs")
    enc = root / "encyclopedia"
    enc.mkdir()
    rows = [
        {"passage": VOLCANO_LONG},
        {"passage": VOLCANO_SHOT},  # a few-shot's own document: never retrieved back
        {"passage": "Glaciers are slow rivers of ice that carve valleys as they move downhill."},
        {"passage": "Glaciers are slow rivers of ice that carve valleys as they move downhill."},  # twin
        {"title": "a row with no passage column"},
    ]
    (enc / "articles.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = root / "ds"
    report = build_datastore(
        [DEMO / "boolq", DEMO / "scitldr", RECIPE_DOCS, enc],
        out,
        kind="documents",
        text_column=["passage", "source", "text"],
        max_rows=8,
    )
    enc_entry = next(s for s in report.sources if s["name"] == "encyclopedia")
    assert enc_entry["n_rows"] == 4 and enc_entry["n_empty"] == 1  # the row without the column is skipped
    return out


def test_documents_are_the_text_column(docs_store: Path) -> None:
    ds = Datastore.open(docs_store)
    assert ds.kind == "documents" and [s.name for s in ds.sources][:2] == ["boolq", "scitldr"]
    first = ds.get_rows([0])[0]
    assert first["text"] == first["row"]["passage"]  # not "question: ... passage: ..." lines
    sci = ds.get_rows([ds.sources[1].row_start])[0]
    assert sci["text"] == "\n".join(sci["row"]["source"])  # a list of sentences, joined
    vrow = ds.vector_row()
    long_row = ds.sources[3].row_start
    assert int((vrow == long_row).sum()) == len(split_passages(VOLCANO_LONG)) > 1


def _volcano_task() -> Task:
    return Task.from_dict(
        {
            "name": "volcano-mcqa",
            "instruction": "Answer a multiple-choice question about volcanoes with the letter of the answer.",
            "examples": [
                {
                    "input": "What escapes from a volcano?\nA. Lava\nB. Ice",
                    "output": "A",
                    "document": VOLCANO_SHOT,
                },
                {
                    "input": "What carves valleys?\nA. Glaciers\nB. Lava",
                    "output": "A",
                    "document": "Lava and ash from an eruption build the cone of a volcano over time.",
                },
            ],
            "output_schema": {"output": {"labels": ["A", "B"]}},
        }
    )


def test_retrieve_returns_each_document_once_with_its_best_passage(docs_store: Path) -> None:
    ds = Datastore.open(docs_store)
    task = _volcano_task()
    res = retrieve(task, ds, n=6, method="craft", show=False)
    texts = [it["text"] for it in res.items]
    assert texts.count(VOLCANO_LONG) == 1  # many matching passages, one item
    assert VOLCANO_SHOT not in texts  # the few-shot's own document
    assert res.dropped.get("example", 0) >= 1
    glacier = "Glaciers are slow rivers of ice that carve valleys as they move downhill."
    assert texts.count(glacier) <= 1  # the twin is dropped as a duplicate, not returned twice
    emb = ds.embedder()
    shots = emb.encode([e.document for e in task.examples])
    vrow, vecs = ds.vector_row(), ds.vectors()
    for it in res.items:
        p = it["passage"]
        passages = split_passages(it["text"])
        assert p["of"] == len(passages) and p["text"] == passages[p["index"]]
        # the best passage for the query of the list that picked the document
        by = it["picked_by"]
        q = shots.mean(axis=0) if by == "mean" else shots[int(by.split()[1]) - 1]
        sims = np.asarray(vecs[vrow == it["global_row"]], dtype=np.float32) @ q
        # 2e-3: on a CPU with native bf16 (the default precision there) a text's vector moves by
        # ~1e-4 with the batch it is encoded in, and retrieval batches the shots with other texts
        assert p["index"] == int(np.argmax(sims)) and p["score"] == pytest.approx(float(sims.max()), abs=2e-3)
    long_item = next(it for it in res.items if it["text"] == VOLCANO_LONG)
    assert long_item["passage"]["index"] in (0, long_item["passage"]["of"] - 1)  # a volcano passage


# ---- three tasks made from text, through run -------------------------------------------------------
def _first_sentence(text: str) -> str:
    return text.replace("\n", " ").split(". ")[0].strip().rstrip(".") + "."


def _sample_for(system: str, document: str) -> dict[str, Any]:
    """What a capable LLM would write from ``document`` for the task its system prompt names."""
    h = zlib.crc32(document.encode())
    words = document.split()
    if "multiple-choice" in system:
        options = [_first_sentence(document), "None of the above.", "It is not stated.", "All of them."]
        letter = "ABCD"[h % 4]
        options[0], options["ABCD".index(letter)] = options["ABCD".index(letter)], options[0]
        question = "Which statement does the passage support?\n" + "\n".join(
            f"{x}. {o}" for x, o in zip("ABCD", options, strict=True)
        )
        return {"input": question, "output": letter}
    if "TLDR" in system:
        return {
            "input": "Write a TLDR for the following text.\n\n" + document,
            "output": _first_sentence(document),
        }
    return {
        "input": f"Cook the dish described as: {' '.join(words[:6])}.",
        "output": "Ingredients:\n" + "\n".join(words[6:10]) + "\nSteps:\n" + _first_sentence(document),
    }


def craft_responder(body: dict[str, Any]) -> str:
    last = last_user_message(body)
    if "Response A:" in last:  # the eval judge: prefers the longer answer
        a = last.split("Response A:\n", 1)[1].split("\n\nResponse B:", 1)[0]
        b = last.split("Response B:\n", 1)[1].split("\n\nWhich response", 1)[0]
        return "A" if len(a) >= len(b) else "B"
    return json.dumps(_sample_for(system_prompt(body), last.removeprefix("Document:\n")))


@pytest.fixture(scope="module")
def server():
    with FakeLLMServer(responder=craft_responder) as srv:
        yield srv


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    texts = [
        json.dumps(line) for name in ("tldr", "recipe") for line in _lines(CRAFT / f"{name}_fewshots.jsonl")
    ]
    return make_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "base", texts)


def _run(task_name: str, docs_store: Path, server: FakeLLMServer, out: Path, **extra: Any):
    task = Task.load(CRAFT / f"{task_name}.yaml")
    flags: dict[str, Any] = {
        "retrieve": {"n": 18},  # 9 few-shots: one top document each, then 9 by mean similarity
        "llm": {"spec": "openai:fake", "base_url": server.openai_url},
        "export": {"formats": ["jsonl"]},
        **extra,
    }
    settings = RunSettings.resolve(task, flags=flags)
    before = len(server.requests)
    result = run(task, datastore=docs_store, out=out, settings=settings)
    return task, result, server.requests[before:]


def _check_provenance(out: Path, requests: list[dict[str, Any]]) -> list[dict]:
    items = {(it["source"], it["row_id"]): it for it in _lines(out / "retrieve" / "items.jsonl")}
    kept = _lines(out / "filter" / "kept.jsonl")
    assert kept
    shown = {last_user_message(r) for r in requests}
    for s in kept:
        assert set(s) == {"id", "input", "output", "provenance"}
        assert isinstance(s["input"], str) and isinstance(s["output"], str)
        prov = s["provenance"]
        item = items[(prov["source"], prov["row_id"])]
        # which passage made which sample: its number, and the LLM saw exactly that passage
        assert prov["passage"]["index"] == item["passage"]["index"]
        assert prov["picked_by"] == item["picked_by"] and prov["picked_by"].split()[0] in ("example", "mean")
        assert "Document:\n" + item["passage"]["text"] in shown
    for rec in _lines(out / "export" / "data.jsonl"):  # exports are Instruction -> Output only
        assert "document" not in rec and "text" not in rec
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '"passage"' in html and "picked by" in html
    return kept


def test_multiple_choice_qa_from_passages(docs_store: Path, server: FakeLLMServer, tmp_path: Path) -> None:
    task, result, requests = _run("mcqa", docs_store, server, tmp_path / "mcqa")
    assert result.funnel()["retrieved"] == 18
    kept = _check_provenance(tmp_path / "mcqa", requests)
    for s in kept:
        assert s["output"] in ("A", "B", "C", "D") and s["input"].count("\n") == 4  # question + 4 choices
    # the worked turns are the few-shots' passages and their samples
    docs = {e.document for e in task.examples}
    first = requests[0]["messages"]
    assert first[1]["content"].removeprefix("Document:\n") in docs
    assert json.loads(first[2]["content"])["output"] in ("A", "B", "C", "D")


@pytest.mark.parametrize("name", ["tldr", "recipes"])
def test_generation_task_trained_and_judged_against_the_few_shots(
    name: str, docs_store: Path, server: FakeLLMServer, tiny_lm: Path, tmp_path: Path
) -> None:
    fewshots = CRAFT / ("tldr_fewshots.jsonl" if name == "tldr" else "recipe_fewshots.jsonl")
    train = {"enabled": True, "base_model": str(tiny_lm), "device": "cpu", "max_steps": 2, "batch_size": 2}
    train |= {"r": 4, "alpha": 8, "max_length": 128}
    evaluation = {
        "data": str(fewshots),
        "input_fields": "Instruction",
        "output_field": "Output",
        "exclude_examples": False,  # the expert never trained on them: they are its references
        "judge": "openai:fake-judge",
        "judge_base_url": server.openai_url,
        "limit": 3,
    }
    out = tmp_path / name
    _, result, requests = _run(name, docs_store, server, out, train=train, eval=evaluation)
    assert {"train", "eval"} <= set(result.records)
    _check_provenance(out, requests)
    metrics = json.loads((out / "eval" / "results.json").read_text())["metrics"]
    assert 0.0 <= metrics["rouge_l"] <= 1.0 and 0.0 <= metrics["judge_win_rate"] <= 1.0
    judged = [r for r in server.requests if "Response A:" in last_user_message(r)]
    assert len(judged) >= 2 * 3  # both orders for each evaluated few-shot
    sources = {s["provenance"]["source"] for s in _lines(out / "filter" / "kept.jsonl")}
    assert sources  # made from the store's documents
