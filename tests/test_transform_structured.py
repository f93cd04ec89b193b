"""Structured outputs: the schema derived from the task, sent as OpenAI ``response_format`` or an
Anthropic forced tool, the fallback to parse + repair when a server rejects it, and the valid-sample
rate and calls per kept sample with and without it (fake server, a model that errs 30% of the time)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from taskforge._llm import LLM
from taskforge._task import Task
from taskforge._transform import transform
from taskforge._transform._schema import answer_schema
from taskforge.testing import FakeLLMServer, demo_items, task_responder

os.environ["TASKFORGE_QUIET"] = "1"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO = Path(__file__).resolve().parents[1] / "demo" / "sources"


def nli() -> Task:
    return Task.load(EXAMPLES / "nli.yaml")


def items(n: int = 40) -> list[dict[str, Any]]:
    return demo_items(DEMO, "snli_dev", n)


def llm_for(server: FakeLLMServer, tmp: Path, backend: str = "openai", **kw: Any) -> LLM:
    url = server.openai_url if backend == "openai" else server.anthropic_url
    kw = {"timeout": 5.0, "backoff_base": 0.01, **kw}
    return LLM.from_spec(f"{backend}:fake", base_url=url, cache_path=tmp / f"{backend}.sqlite", **kw)


def test_schema_has_the_task_fields_label_enum_and_reasoning_first() -> None:
    task = nli()
    schema = answer_schema(task, chain_of_thought=True)
    assert list(schema["properties"]) == ["reasoning", "premise", "hypothesis", "label"]
    assert schema["properties"]["label"] == {"type": "string", "enum": ["entailment", "not_entailment"]}
    assert schema["required"] == list(schema["properties"]) and schema["additionalProperties"] is False
    assert "reasoning" not in answer_schema(task)["properties"]


@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_schema_is_sent_in_the_protocols_own_way(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    task = nli()
    with FakeLLMServer(responder=task_responder(task, bad_share=0.3)) as s:
        with llm_for(s, tmp_path, backend) as llm:
            res = transform(task, items(20), tmp_path / "s.jsonl", llm=llm, progress=False)
        body = s.requests[0]
        if backend == "openai":
            fmt = body["response_format"]
            assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
            assert fmt["json_schema"]["schema"] == answer_schema(task)
        else:
            assert body["tool_choice"] == {"type": "tool", "name": "answer"}
            assert body["tools"][0]["input_schema"] == answer_schema(task)
        assert res.samples == 20 and s.structured_requests == 20  # constrained: every answer valid


def test_structured_off_sends_no_schema(tmp_path: Path) -> None:
    task = nli()
    with FakeLLMServer(responder=task_responder(task)) as s, llm_for(s, tmp_path, structured="off") as llm:
        transform(task, items(5), tmp_path / "s.jsonl", llm=llm, progress=False)
        assert s.structured_requests == 0 and all("response_format" not in b for b in s.requests)


def test_a_server_that_rejects_the_schema_falls_back_to_parse_and_repair(tmp_path: Path) -> None:
    task = nli()
    with FakeLLMServer(responder=task_responder(task, bad_share=0.3), schema_support=False) as s:
        with llm_for(s, tmp_path, max_in_flight=4) as llm:
            res = transform(task, items(40), tmp_path / "s.jsonl", llm=llm, progress=False)
            assert llm.stats.schema_fallbacks == 1
        rejected = [b for b in s.requests if "response_format" in b]
        assert len(rejected) <= 4  # only the first requests in flight carried it
        assert res.samples == 40 and res.llm_stats["calls"] > 40  # repairs made up for the bad answers


def test_structured_on_does_not_fall_back(tmp_path: Path) -> None:
    task = nli()
    with FakeLLMServer(responder=task_responder(task), schema_support=False) as s:
        with llm_for(s, tmp_path, structured="on") as llm:
            res = transform(task, items(5), tmp_path / "s.jsonl", llm=llm, progress=False)
        assert res.samples == 0 and set(res.rejects_by_reason) == {"LLM error"}


def test_valid_rate_and_calls_per_kept_sample_with_and_without(tmp_path: Path) -> None:
    """The README's fake-server figures: a model whose free-text answers are bad 30% of the time."""
    task = nli()
    figures = {}
    for mode in ("off", "auto"):
        with FakeLLMServer(responder=task_responder(task, bad_share=0.3, repairable=False)) as s:
            with llm_for(s, tmp_path / mode, structured=mode) as llm:
                res = transform(task, items(100), tmp_path / mode / "s.jsonl", llm=llm, progress=False)
            figures[mode] = (res.samples / res.items, res.llm_stats["calls"] / max(1, res.samples))
    assert figures["auto"] == (1.0, 1.0)
    assert figures["off"][0] < 0.85 and figures["off"][1] > 1.2
