"""Data mapping, evaluate() with stub / LLM predictors, and the clean errors of train/eval."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from taskforge import Task
from taskforge._experts import (
    ExpertError,
    FewShotLLM,
    check_lora_ready,
    evaluate,
    judge_win_rate,
    resolve_base_model,
)
from taskforge._experts._data import (
    chat_messages,
    classifier_text,
    completion_text,
    load_examples,
    parse_field_map,
)
from taskforge._experts._judge import judge_choice

os.environ["TASKFORGE_QUIET"] = "1"
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TASKFORGE_SHARED", "/work/shared")) / "datastore-sources"
NLI = Task.load(ROOT / "examples" / "nli.yaml")
MATH = Task.load(ROOT / "examples" / "math.yaml")


class Stub:
    """A predictor answering from a dict (input text -> answer)."""

    kind = "stub"
    name = "stub"

    def __init__(self, answers: dict[str, str], default: str = "") -> None:
        self.answers, self.default = answers, default

    def predict(self, inputs: list[Any]) -> list[str]:
        return [self.answers.get(Task.text_of(v), self.default) for v in inputs]


def _flat(text: str) -> str:
    """CLI output with rich's line wrapping undone."""
    return " ".join(text.split())


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# ---- data mapping ---------------------------------------------------------------------------------
def test_field_map_parsing() -> None:
    assert parse_field_map("premise,hypothesis") == {"premise": "premise", "hypothesis": "hypothesis"}
    assert parse_field_map("premise=sentence1, hypothesis=sentence2") == {
        "premise": "sentence1",
        "hypothesis": "sentence2",
    }
    assert parse_field_map(None) is None


def test_load_raw_rows_with_mapping(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "raw.jsonl", [{"s1": "A dog runs.", "s2": "An animal moves.", "gold": "entailment"}]
    )
    items = load_examples(f, NLI, input_fields="premise=s1,hypothesis=s2", output_field="gold")
    assert items == [
        {
            "input": {"premise": "A dog runs.", "hypothesis": "An animal moves."},
            "output": {"label": "entailment"},
        }
    ]
    with pytest.raises(ExpertError, match="--input-fields"):
        load_examples(f, NLI)
    with pytest.raises(ExpertError, match="no column"):
        load_examples(f, NLI, input_fields="premise,hypothesis", output_field="gold")


def test_classifier_and_chat_views() -> None:
    ex = NLI.examples[0]
    assert classifier_text(ex.input) == (ex.input["premise"], ex.input["hypothesis"])
    assert classifier_text("plain") == "plain"
    sample = {"input": "2+2?", "output": "4", "reasoning": "2 plus 2 is 4."}
    assert completion_text(MATH, sample) == "2 plus 2 is 4.\nThe answer is 4"
    msgs = chat_messages(NLI, ex.input, shots=[{"input": ex.input, "output": ex.output}])
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"] == "entailment"
    assert NLI.instruction.strip() in msgs[0]["content"] and "premise: " in msgs[0]["content"]


# ---- evaluate() with a stub ------------------------------------------------------------------------------
def test_evaluate_drops_examples_and_writes_run_dir(tmp_path: Path) -> None:
    rows = [{"input": e.input, "output": e.output} for e in NLI.examples]
    rows += [
        {
            "input": {"premise": "Cats are mammals.", "hypothesis": "Cats are animals."},
            "output": {"label": "entailment"},
        },
        {
            "input": {"premise": "It rained.", "hypothesis": "The sun is a star."},
            "output": {"label": "not_entailment"},
        },
    ]
    data = _write(tmp_path / "eval.jsonl", rows)
    stub = Stub({}, default="The answer is entailment")
    res = evaluate(stub, NLI, data, run_dir=tmp_path / "run", out=tmp_path / "res.json")
    assert (res.n, res.n_excluded) == (2, 3)
    assert res.metrics["accuracy"] == 0.5
    saved = json.loads((tmp_path / "run" / "eval" / "results.json").read_text())
    assert saved["metrics"]["accuracy"] == 0.5 and saved["n"] == 2 and saved["task"] == NLI.name
    preds = [
        json.loads(x) for x in (tmp_path / "run" / "eval" / "predictions.jsonl").read_text().splitlines()
    ]
    assert [p["correct"] for p in preds] == [True, False]
    assert (tmp_path / "res.json").exists()


def test_evaluate_shows_progress_on_a_large_eval_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    import taskforge._console as tf_console
    from taskforge._experts._evaluate import PREDICT_CHUNK

    n = 2 * PREDICT_CHUNK + 17
    rows = [
        {"input": {"premise": f"p{i}", "hypothesis": f"h{i}"}, "output": {"label": "entailment"}}
        for i in range(n)
    ]
    data = _write(tmp_path / "big.jsonl", rows)
    calls: list[int] = []

    class Counting(Stub):
        def predict(self, inputs: list[Any]) -> list[str]:
            calls.append(len(inputs))
            return ["entailment" if i % 2 else "not_entailment" for i in range(len(inputs))]

    buf = io.StringIO()
    monkeypatch.setenv("TASKFORGE_QUIET", "0")
    monkeypatch.setattr(tf_console, "console", Console(file=buf, width=120))
    res = evaluate(Counting({}), NLI, data)
    assert calls == [PREDICT_CHUNK, PREDICT_CHUNK, 17]  # in chunks, so the bar moves
    assert res.n == n and [p["prediction"] for p in res.predictions[:2]] == ["not_entailment", "entailment"]
    assert "eval stub" in buf.getvalue() and f"{n}/{n}" in buf.getvalue()


def test_evaluate_not_an_expert_folder(tmp_path: Path) -> None:
    data = _write(tmp_path / "e.jsonl", [{"input": "x", "output": "1"}])
    with pytest.raises(ExpertError, match="not a trained expert"):
        evaluate(tmp_path, MATH, data)


# ---- honest evaluation: baselines, per-label scores, warnings ---------------------------------------------
def _nli_rows(labels: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "input": {"premise": f"Premise number {i}.", "hypothesis": f"Hypothesis {i}."},
            "output": {"label": lab},
        }
        for i, lab in enumerate(labels)
    ]


def test_constant_predictor_warning(tmp_path: Path) -> None:
    data = _write(tmp_path / "eval.jsonl", _nli_rows(["entailment"] * 3 + ["not_entailment"] * 7))
    res = evaluate(Stub({}, default="not_entailment"), NLI, data, out=tmp_path / "res.json")
    assert res.metrics["accuracy"] == 0.7 and res.metrics["top_share"] == 1.0
    assert res.baselines["majority"] == {"label": "not_entailment", "accuracy": 0.7}
    assert len(res.warnings) == 2
    assert "answers 'not_entailment' for 100% of the rows" in res.warnings[0]
    assert "does not beat the majority rate 0.700" in res.warnings[1]
    saved = json.loads((tmp_path / "res.json").read_text())
    assert saved["warnings"] == res.warnings and saved["baselines"] == res.baselines


def test_no_warning_for_a_useful_predictor(tmp_path: Path) -> None:
    rows = _nli_rows(["entailment"] * 4 + ["not_entailment"] * 6)
    answers = {Task.text_of(r["input"]): r["output"]["label"] for r in rows}
    answers[Task.text_of(rows[0]["input"])] = "not_entailment"  # one mistake
    data = _write(tmp_path / "eval.jsonl", rows)
    res = evaluate(Stub(answers), NLI, data)
    assert res.metrics["accuracy"] == 0.9 and res.warnings == []
    diag = res.diagnostics
    assert diag["per_label"]["entailment"] == {
        "precision": 1.0,
        "recall": 0.75,
        "f1": 0.8571,
        "support": 4,
        "predicted": 3,
    }
    assert diag["per_label"]["not_entailment"]["precision"] == pytest.approx(6 / 7, abs=1e-4)
    assert diag["confusion"] == {"labels": ["entailment", "not_entailment"], "matrix": [[3, 1], [0, 6]]}
    assert diag["top_label"] == "not_entailment" and diag["top_share"] == 0.7


def test_near_constant_share_and_unknown_answers(tmp_path: Path) -> None:
    rows = _nli_rows(["entailment"] * 5 + ["not_entailment"] * 15)
    answers = {Task.text_of(rows[-1]["input"]): "maybe"}  # not a label: counted, shown, never dropped
    data = _write(tmp_path / "eval.jsonl", rows)
    res = evaluate(Stub(answers, default="entailment"), NLI, data)
    assert res.diagnostics["top_share"] == 0.95
    assert res.diagnostics["confusion"]["labels"] == ["entailment", "not_entailment", "maybe"]
    assert any("answers 'entailment' for 95% of the rows" in w for w in res.warnings)
    assert any("does not beat the majority rate 0.750" in w for w in res.warnings)


def test_baselines_only_for_classification(tmp_path: Path) -> None:
    data = _write(tmp_path / "e.jsonl", [{"input": "2+2?", "output": "4"}])
    res = evaluate(Stub({}, default="The answer is 4"), MATH, data)
    assert res.baselines == {} and res.warnings == [] and "top_share" not in res.metrics


@pytest.mark.shared
def test_scitail_raw_rows(tmp_path: Path) -> None:
    path = SHARED / "scitail_test" / "test.jsonl"
    if not path.exists():
        pytest.skip("shared datastore-sources not available")
    items = load_examples(path, NLI, input_fields="premise,hypothesis", output_field="label")
    assert len(items) > 2000 and set(items[0]["input"]) == {"premise", "hypothesis"}
    res = evaluate(
        Stub({}, default="not_entailment"),
        NLI,
        path,
        input_fields="premise,hypothesis",
        output_field="label",
        limit=200,
    )
    labels = [it["output"]["label"] for it in items[:200]]
    assert res.metrics["accuracy"] == pytest.approx(labels.count("not_entailment") / 200)


# ---- the LLM layer: few-shot baseline and judge ----------------------------------------------------------
def _answer_math(body: dict[str, Any]) -> str:
    from taskforge.testing import last_user_message

    msg = last_user_message(body)
    if "Response A:" in msg:  # judge: prefer the response that says 9
        a = msg.split("Response A:")[1].split("Response B:")[0]
        return "A" if "9" in a else "B"
    return "Counting gives 9. The answer is 9." if "apples" in msg else "The answer is 0."


def test_few_shot_llm_and_judge(tmp_path: Path) -> None:
    from taskforge._llm import LLM
    from taskforge.testing import FakeLLMServer

    rows = [
        {
            "input": "Ann has 4 apples and gets 5 more. How many apples?",
            "output": "4 + 5 = 9. The answer is 9.",
        },
        {"input": "What is 3 - 3?", "output": "3 - 3 = 0. The answer is 0."},
        {"input": "What is 2 * 5?", "output": "2 * 5 = 10. The answer is 10."},
    ]
    data = _write(tmp_path / "math.jsonl", rows)
    with FakeLLMServer(responder=_answer_math, latency=0.0) as server:
        llm = LLM.from_spec("openai:fake", base_url=server.openai_url, cache_path=None, max_retries=1)
        res = evaluate(FewShotLLM(llm, shots=2), MATH, data, judge=llm)
        first = server.requests[0]["messages"]
        llm.close()
    assert res.kind == "llm-few-shot"
    assert res.metrics["accuracy"] == pytest.approx(2 / 3)
    # 2 shots = 2 user/assistant pairs before the item
    assert [m["role"] for m in first] == ["user", "assistant", "user", "assistant", "user"]
    # judge: item 0 both say 9 -> the judge picks A both times -> 0.5; item 1 reference wins (no 9 anywhere -> B)
    assert res.extra["judge"]["failures"] == 0
    assert 0.0 <= res.metrics["judge_win_rate"] <= 1.0
    assert res.predictions[0]["judge"] == 0.5


def test_judge_position_swap() -> None:
    class Always:
        spec = "fake:always-a"

        def run(self, requests: list[Any]) -> Any:
            from taskforge._llm import LLMResult

            for r in requests:
                yield LLMResult(request=r, ok=True, text="A")

    item = {"input": "q", "output": "ref"}
    res = judge_win_rate(Always(), MATH, [item, item], ["p1", "p2"])
    assert res.win_rate == 0.5 and res.ties == 2  # a judge that always says A has no preference
    assert judge_choice("I'd say **B**.") == "B" and judge_choice("Tie") == "tie" and judge_choice("") is None


# ---- clean errors ---------------------------------------------------------------------------------------
def test_resolve_base_model_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ExpertError, match="not in the local Hugging Face cache"):
        resolve_base_model("some-org/not-a-real-model")
    empty = tmp_path / "model"
    empty.mkdir()
    with pytest.raises(ExpertError, match=r"no config\.json"):
        resolve_base_model(str(empty))
    (empty / "config.json").write_text("{}")
    with pytest.raises(ExpertError, match="no weights"):
        resolve_base_model(str(empty))
    with pytest.raises(ExpertError, match="no such folder"):
        resolve_base_model(str(tmp_path / "missing" / "x"))


def test_gpu_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ExpertError, match="no CUDA GPU"):
        check_lora_ready("whatever")
    with pytest.raises(ExpertError, match=r"QLoRA .* needs a CUDA GPU"):
        check_lora_ready("whatever", method="qlora", device="cpu")
    with pytest.raises(ExpertError, match="no CUDA GPU is available"):
        check_lora_ready("whatever", device="cuda")


def test_cli_clean_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from taskforge._cli import app

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    data = _write(tmp_path / "d.jsonl", [{"input": "x", "output": "1"}])
    runner = CliRunner()
    task = str(ROOT / "examples" / "math.yaml")
    r = runner.invoke(
        app,
        [
            "train",
            str(data),
            "--task",
            task,
            "--base-model",
            "nope/missing-model",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 2, r.output
    assert "not in the local Hugging Face cache" in _flat(r.output)
    r = runner.invoke(
        app,
        [
            "train",
            str(data),
            "--task",
            task,
            "--base-model",
            "nope/missing-model",
            "--method",
            "qlora",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 2 and "QLoRA" in _flat(r.output)
    r = runner.invoke(
        app, ["train", str(data), "--task", task, "--expert", "lora", "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 2 and "--base-model" in _flat(r.output)
    r = runner.invoke(app, ["train", str(data), "--task", task, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no output_schema labels" in _flat(r.output)
    r = runner.invoke(app, ["eval", str(tmp_path), "--task", task, "--data", str(data)])
    assert r.exit_code == 2 and "not a trained expert" in _flat(r.output)
    r = runner.invoke(
        app, ["eval", "--task", task, "--data", str(tmp_path / "missing.jsonl"), "--llm", "openai:x"]
    )
    assert r.exit_code == 2


def test_train_expert_dispatch(tmp_path: Path) -> None:
    from taskforge._experts import default_expert, train_expert

    assert default_expert(NLI, None) == "cpu" and default_expert(MATH, "some/model") == "lora"
    with pytest.raises(ExpertError, match="no output_schema labels"):
        default_expert(MATH, None)
    with pytest.raises(ExpertError, match="needs a base model"):
        train_expert(MATH, [], tmp_path, expert="lora", device=None)
    with pytest.raises(ExpertError, match="drop base_model"):
        train_expert(NLI, [], tmp_path, expert="cpu", base_model="x")
    with pytest.raises(ExpertError, match=r"does not take option\(s\) \['preset'\]"):
        train_expert(NLI, [], tmp_path, preset="craft", method=None)
