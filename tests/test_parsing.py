"""JSON extraction from LLM answers and validation against the task's schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskforge import Task
from taskforge._transform import SampleError, extract_json, validate_sample

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def nli() -> Task:
    return Task.load(EXAMPLES / "nli.yaml")


@pytest.fixture(scope="module")
def math() -> Task:
    return Task.load(EXAMPLES / "math.yaml")


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": "x"}',
        'Sure! Here it is:\n```json\n{"a": 1, "b": "x"}\n```\nAnything else?',
        '```\n{"a": 1, "b": "x"}\n```',
        'The answer {as requested} is {"a": 1, "b": "x"} -- done}',
        'Response: {"a": 1, "b": "x",}',
    ],
)
def test_extract_json_finds_the_object(text: str) -> None:
    assert extract_json(text) == {"a": 1, "b": "x"}


def test_extract_json_nested_and_braces_in_strings() -> None:
    text = 'ok {"q": "what is {x}?", "meta": {"deep": {"k": "}"}}, "list": [{"a": 1}]} trailing }}'
    obj = extract_json(text)
    assert obj == {"q": "what is {x}?", "meta": {"deep": {"k": "}"}}, "list": [{"a": 1}]}


def test_extract_json_prefers_an_object_with_expected_keys() -> None:
    text = 'Example: {"note": 1}. Answer: {"premise": "p", "label": "entailment"}'
    assert extract_json(text)["note"] == 1
    assert extract_json(text, prefer_keys={"premise", "label"})["premise"] == "p"


@pytest.mark.parametrize("text", ["", "no json here", '{"a": 1, "b": ', "{'a': 1}"])
def test_extract_json_failures_say_why(text: str) -> None:
    with pytest.raises(SampleError) as e:
        extract_json(text)
    assert e.value.category == "JSON parse error"
    assert str(e.value).startswith("JSON parse error: ")


def test_validate_flat_and_nested_named_fields(nli: Task) -> None:
    flat = {"premise": "P", "hypothesis": "H", "label": " Not Entailment "}
    inp, out, reasoning = validate_sample(nli, flat)
    assert inp == {"premise": "P", "hypothesis": "H"}
    assert out == {"label": "not_entailment"}
    assert reasoning is None
    nested = {"input": {"premise": "P", "hypothesis": "H"}, "output": {"label": "ENTAILMENT"}}
    assert validate_sample(nli, nested)[1] == {"label": "entailment"}


def test_validate_rejects_with_reasons(nli: Task) -> None:
    with pytest.raises(SampleError, match="invalid label: label='maybe'"):
        validate_sample(nli, {"premise": "P", "hypothesis": "H", "label": "maybe"})
    with pytest.raises(SampleError, match="missing field: 'hypothesis'"):
        validate_sample(nli, {"premise": "P", "label": "entailment"})
    with pytest.raises(SampleError, match="empty field"):
        validate_sample(nli, {"premise": " ", "hypothesis": "H", "label": "entailment"})
    with pytest.raises(SampleError, match="not an object"):
        validate_sample(nli, ["premise"])


def test_validate_plain_task_and_chain_of_thought(math: Task) -> None:
    inp, out, reasoning = validate_sample(
        math, {"reasoning": "3+4=7", "input": "Q?", "output": 7}, chain_of_thought=True
    )
    assert (inp, out, reasoning) == ("Q?", "7", "3+4=7")
    with pytest.raises(SampleError, match="missing field: 'reasoning'"):
        validate_sample(math, {"input": "Q?", "output": "7"}, chain_of_thought=True)


def test_validate_schema_types() -> None:
    task = Task.from_dict(
        {
            "name": "t",
            "instruction": "count",
            "examples": [{"input": "a b", "output": {"count": "2", "summary": "two words"}}],
            "output_schema": {"count": {"type": "integer"}, "summary": {"max_length": 20}},
        }
    )
    assert validate_sample(task, {"input": "x", "count": "3", "summary": "s"})[1] == {
        "count": 3,
        "summary": "s",
    }
    with pytest.raises(SampleError, match="wrong type: 'count' must be an integer"):
        validate_sample(task, {"input": "x", "count": "three", "summary": "s"})
    with pytest.raises(SampleError, match="too long"):
        validate_sample(task, {"input": "x", "count": 3, "summary": "s" * 21})


def test_extract_json_unwraps_one_level_and_skips_echoed_examples() -> None:
    keys = {"premise", "label"}
    assert extract_json('{"sample": {"premise": "p", "label": "x"}}', prefer_keys=keys) == {
        "premise": "p",
        "label": "x",
    }
    text = 'Like {"input": "example"} I answer {"premise": "mine", "label": "y"}'
    assert extract_json(text, prefer_keys=keys)["premise"] == "mine"


def test_extract_json_is_fast_on_brace_heavy_text() -> None:
    import time

    text = "{ " * 20_000 + '{"premise": "p", "label": "x"}'
    t0 = time.perf_counter()
    assert extract_json(text)["premise"] == "p"
    assert time.perf_counter() - t0 < 5
