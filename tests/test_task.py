"""The task spec: YAML, named fields, examples from files (incl. CRAFT's format), clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskforge import Task, TaskSpecError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_shipped_examples_load(name):
    task = Task.load(EXAMPLES / name)
    assert task.instruction and len(task.examples) >= 3
    assert task.exclude_sources  # each example task names its own source


def test_plain_string_examples(tmp_path):
    task = Task.load(
        _write(
            tmp_path / "t.yaml",
            "name: t\ninstruction: Answer.\nexamples:\n  - input: 2+2?\n    output: 4\n  - input: 3+3?\n    output: 6\n",
        )
    )
    assert task.input_fields == ["input"] and task.output_fields == ["output"]
    assert not task.named_inputs and task.output_texts() == ["4", "6"]  # numbers become text


def test_named_fields_and_text_of():
    task = Task.load(EXAMPLES / "nli.yaml")
    assert task.input_fields == ["premise", "hypothesis"] and task.output_fields == ["label"]
    assert task.named_inputs and task.named_outputs
    assert task.input_texts()[0].startswith("premise: Lungs")
    assert "\nhypothesis: " in task.input_texts()[0]
    assert task.labels() == ["entailment", "not_entailment"] and task.label_field() == "label"


def test_exclusion_by_name_and_glob():
    task = Task.from_dict(
        {
            "name": "t",
            "instruction": "x",
            "examples": [{"input": "a", "output": "b"}],
            "exclude_sources": ["gsm8k", "t0_*"],
        }
    )
    assert task.is_excluded("gsm8k") and task.is_excluded("t0_xsum")
    assert not task.is_excluded("gsm8k_extra") and not task.is_excluded("svamp")
    single = Task.from_dict(
        {
            "name": "t",
            "instruction": "x",
            "examples": [{"input": "a", "output": "b"}],
            "exclude_sources": "boolq",
        }
    )
    assert single.exclude_sources == ["boolq"]


def test_stage_defaults_are_copies():
    task = Task.from_dict(
        {
            "name": "t",
            "instruction": "x",
            "examples": [{"input": "a", "output": "b"}],
            "defaults": {"retrieve": {"n": 50, "method": "craft"}},
        }
    )
    d = task.stage_defaults("retrieve")
    assert d == {"n": 50, "method": "craft"} and task.stage_defaults("transform") == {}
    d["n"] = 1
    assert task.stage_defaults("retrieve")["n"] == 50


def test_examples_from_jsonl_with_field_mapping(tmp_path):
    rows = [{"p": f"premise {i}", "h": f"hyp {i}", "gold": "entailment"} for i in range(5)]
    _write(tmp_path / "ex.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    spec = (
        "name: t\ninstruction: Decide.\n"
        "examples_from:\n  path: ex.jsonl\n  input: {premise: p, hypothesis: h}\n  output: {label: gold}\n"
        "  skip: 1\n  limit: 3\n"
    )
    task = Task.load(_write(tmp_path / "t.yaml", spec))  # path relative to the YAML
    assert len(task.examples) == 3
    assert task.examples[0].input == {"premise": "premise 1", "hypothesis": "hyp 1"}
    assert task.examples[0].output == {"label": "entailment"}
    assert "examples_from" not in task.to_yaml()
    again = Task.from_dict(__import__("yaml").safe_load(task.to_yaml()))
    assert again.examples == task.examples  # inlined round trip


def test_examples_from_csv_single_columns(tmp_path):
    _write(tmp_path / "ex.csv", 'question,answer\nWhat is 2+2?,4\n"Apples, pears?",fruit\n')
    task = Task.from_dict(
        {
            "name": "t",
            "instruction": "x",
            "examples_from": {"path": "ex.csv", "input": "question", "output": "answer"},
        },
        base_dir=tmp_path,
    )
    assert [e.input for e in task.examples] == ["What is 2+2?", "Apples, pears?"]
    assert [e.output for e in task.examples] == ["4", "fruit"]


def test_craft_few_shot_file_loads_as_document_and_sample(tmp_path):
    lines = [
        {
            "Text": "Photosynthesis turns light into chemical energy.",
            "Instruction": "What does photosynthesis do?\nA. It stores water.\nB. It turns light into chemical energy.",
            "Output": "B.",
        },
        {"Text": "The heart pumps blood.", "Instruction": "What pumps blood?", "Output": "The heart."},
    ]
    _write(tmp_path / "fewshots.jsonl", "\n".join(json.dumps(r) for r in lines) + "\n")
    for extra in ("", "  format: craft\n"):
        task = Task.load(
            _write(
                tmp_path / "t.yaml",
                f"name: bio\ninstruction: Answer.\nexamples_from:\n  path: fewshots.jsonl\n{extra}",
            )
        )
        # Text is the document the sample was written from; the sample is Instruction -> Output
        assert task.input_fields == ["input"] and task.output_fields == ["output"]
        assert task.examples[1].input == "What pumps blood?" and task.examples[1].output == "The heart."
        assert task.examples[1].document == "The heart pumps blood."
        assert task.examples[0].output == "B"  # CRAFT's "B." answer letter, read as its extractor does
        assert task.has_documents
        assert task.example_texts() == [r["Text"] for r in lines]


def test_document_column_from_any_examples_file(tmp_path):
    _write(
        tmp_path / "ex.jsonl",
        json.dumps({"article": "Rain fell all week in Leeds.", "q": "Where?", "a": "Leeds"}) + "\n",
    )
    task = Task.from_dict(
        {
            "name": "t",
            "instruction": "x",
            "examples_from": {"path": "ex.jsonl", "input": "q", "output": "a", "document": "article"},
        },
        base_dir=tmp_path,
    )
    assert task.examples[0].document == "Rain fell all week in Leeds." and task.examples[0].input == "Where?"
    assert "document: Rain fell" in task.to_yaml()  # the run's task.yaml keeps it


def test_examples_without_documents_dump_as_before():
    task = Task.from_dict({"name": "t", "instruction": "x", "examples": [{"input": "a", "output": "b"}]})
    assert task.model_dump(mode="json")["examples"] == [{"input": "a", "output": "b"}]
    assert not task.has_documents and task.example_texts() == ["a\nb"]


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(TaskSpecError) as err:
        Task.load(_write(tmp_path / "bad.yaml", text))
    return str(err.value)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: t\nexamples: [{input: a, output: b}]\n", "instruction"),
        ("name: t\ninstruction: x\n", "examples"),
        ("name: t\ninstruction: x\nexamples: [{input: a}]\n", "examples.0.output"),
        ("name: t\ninstruction: x\nexamples: [{input: a, output: b, extra: 1}]\n", "examples.0.extra"),
        ("name: t\ninstruction: x\nexamples: [{input: a, output: b}]\ncolour: red\n", "colour"),
        (
            "name: t\ninstruction: x\nexamples:\n  - {input: a, output: b}\n  - {input: {q: a}, output: b}\n",
            "same fields",
        ),
        (
            "name: t\ninstruction: x\nexamples: [{input: a, output: {label: maybe}}]\n"
            'output_schema: {label: {labels: ["yes", "no"]}}\n',
            "examples[0].output.label",
        ),
        (
            "name: t\ninstruction: x\nexamples: [{input: a, output: b}]\noutput_schema: {answer: {type: string}}\n",
            "output_schema",
        ),
        (
            "name: t\ninstruction: x\nexamples_from: {path: nope.jsonl, input: a, output: b}\n",
            "examples_from",
        ),
        ("name: t\ninstruction: x\nexamples_from: {path: x.jsonl, format: weird}\n", "examples_from.format"),
        ("- just\n- a list\n", "mapping"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_specs_name_the_field(tmp_path, text, needle):
    assert needle in _error(tmp_path, text)


def test_examples_file_missing_column_names_it(tmp_path):
    _write(tmp_path / "ex.jsonl", json.dumps({"q": "a", "a": "b"}) + "\n")
    msg = _error(
        tmp_path, "name: t\ninstruction: x\nexamples_from: {path: ex.jsonl, input: question, output: a}\n"
    )
    assert "examples_from" in msg and "'question'" in msg


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(TaskSpecError, match="not found"):
        Task.load(tmp_path / "absent.yaml")


def test_unquoted_yes_no_labels_get_a_clear_error(tmp_path) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(
        "name: t\ninstruction: answer\nexamples:\n  - {input: q, output: {answer: 'yes'}}\n"
        "output_schema:\n  answer: {labels: [yes, no]}\n"
    )
    with pytest.raises(TaskSpecError, match=r"quote the labels"):
        Task.load(spec)
