"""Prompts: the ReBase prompt (paper Appendix B.1), CRAFT worked turns, user Jinja2 templates, repair."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2
import pytest

from taskforge import Task
from taskforge._transform import PromptBuilder, TransformSettings
from taskforge.testing import demo_items, row_of_prompt

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO = Path(__file__).resolve().parents[1] / "demo" / "sources"


@pytest.fixture(scope="module")
def nli() -> Task:
    return Task.load(EXAMPLES / "nli.yaml")


@pytest.fixture(scope="module")
def item() -> dict:
    return demo_items(DEMO, "snli_dev", 1)[0]


def test_rebase_prompt_is_the_papers_with_the_tasks_fields(nli: Task, item: dict) -> None:
    (msg,) = PromptBuilder(nli, TransformSettings()).messages(item)
    text = msg["content"]
    assert msg["role"] == "user"
    assert text.startswith(
        "I would like you to create questions for a test. The directions for the test are:"
    )
    assert nli.instruction in text
    assert "You need to decide which part of the dataset to use." in text
    assert 'Your response MUST be a JSON with exactly 3 fields: "premise", "hypothesis" and "label".' in text
    assert '"label" field must be one of: "entailment" or "not_entailment"' in text
    assert text.endswith("Response (JSON ONLY):")
    assert row_of_prompt({"messages": [msg]}) == item["row"]  # the whole row, as JSON
    for ex in nli.examples:
        assert json.dumps(ex.input["premise"]) in text


def test_plain_task_asks_for_input_and_output_and_reasoning_first() -> None:
    math = Task.load(EXAMPLES / "math.yaml")
    item = demo_items(DEMO, "gsm8k", 1)[0]
    text = PromptBuilder(math, TransformSettings()).messages(item)[0]["content"]
    assert 'exactly 2 fields: "input" and "output".' in text
    cot = PromptBuilder(math, TransformSettings(chain_of_thought=True)).messages(item)[0]["content"]
    assert 'exactly 3 fields: "reasoning", "input" and "output".' in cot
    assert "step-by-step reasoning" in cot


def test_craft_prompt_has_worked_turns_then_the_document(nli: Task, item: dict) -> None:
    item = {**item, "text": "Lichens grow on rocks and slowly break them down into soil."}
    msgs = PromptBuilder(nli, TransformSettings(style="craft", n_examples=2)).messages(item)
    roles = [m["role"] for m in msgs]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert nli.instruction in msgs[0]["content"]
    assert json.loads(msgs[2]["content"])["label"] in ("entailment", "not_entailment")
    assert msgs[-1]["content"].endswith("Lichens grow on rocks and slowly break them down into soil.")


def test_example_choice_is_seeded_and_varies_with_sample_index(nli: Task, item: dict) -> None:
    b = PromptBuilder(nli, TransformSettings(style="craft", n_examples=1))
    picks = {b.messages(item, k)[1]["content"] for k in range(12)}
    assert len(picks) > 1  # different samples of an item see different examples
    again = PromptBuilder(nli, TransformSettings(style="craft", n_examples=1))
    assert [again.messages(item, k) for k in range(5)] == [b.messages(item, k) for k in range(5)]


def test_user_template_gets_the_documented_variables(tmp_path: Path, nli: Task, item: dict) -> None:
    tpl = tmp_path / "mine.j2"
    tpl.write_text(
        "{{ task.name }} | {{ examples | length }} | {{ item.source }} | {{ row.premise }} | "
        "{{ fields | quoted_list }} | {{ labels | join('/') }} | {{ chain_of_thought }} | {{ sample_index }}\n"
        "{{ answers[0] | json }}"
    )
    (msg,) = PromptBuilder(nli, TransformSettings(template=tpl, chain_of_thought=True)).messages(item, 2)
    first = msg["content"].splitlines()[0]
    assert first == (
        f'scitail-nli | 3 | snli_dev | {item["row"]["premise"]} | "reasoning", "premise", "hypothesis" and "label" '
        "| entailment/not_entailment | True | 2"
    )
    tpl.write_text("{{ no_such_variable }}")
    with pytest.raises(jinja2.UndefinedError):
        PromptBuilder(nli, TransformSettings(template=tpl)).messages(item)


def test_repair_messages_send_the_error_back(nli: Task, item: dict) -> None:
    b = PromptBuilder(nli, TransformSettings())
    msgs = b.repair_messages(b.messages(item), "{broken", "JSON parse error: Expecting value")
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[1]["content"] == "{broken"
    assert "JSON parse error: Expecting value" in msgs[2]["content"]
    assert "corrected JSON" in msgs[2]["content"]
