"""Export: JSONL, Parquet, HF save_to_disk, chat SFT records and the dataset card."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest

from taskforge import SettingsError, Task
from taskforge._io import read_jsonl
from taskforge._quality import (
    chat_record,
    dataset_stats,
    export_dataset,
    filter_samples,
    source_notes_from_dir,
)

os.environ["TASKFORGE_QUIET"] = "1"
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "sources"


def _math(n: int = 40) -> list[dict]:
    out = []
    for i, r in enumerate(itertools.islice(read_jsonl(DEMO / "gsm8k/train.jsonl"), n)):
        reasoning, _, answer = r["answer"].rpartition("####")
        out.append(
            {
                "id": f"s-gsm-{i}",
                "input": r["question"],
                "output": f"The answer is {answer.strip()}.",
                "reasoning": reasoning.strip(),
                "provenance": {
                    "source": "gsm8k",
                    "row_id": f"train.jsonl:{i}",
                    "rank": i + 1,
                    "method": "mapper",
                },
            }
        )
    return out


def _nli(n: int = 40) -> list[dict]:
    return [
        {
            "id": f"s-snli-{i}",
            "input": {"premise": r["premise"], "hypothesis": r["hypothesis"]},
            "output": {"label": "entailment" if r["label"] == "entailment" else "not_entailment"},
            "provenance": {
                "source": "snli_dev",
                "row_id": f"dev.jsonl:{i}",
                "method": "llm",
                "model": "openai:x",
            },
        }
        for i, r in enumerate(itertools.islice(read_jsonl(DEMO / "snli_dev/dev.jsonl"), n))
    ]


def test_chat_record_reasoning_before_answer() -> None:
    task = Task.load(ROOT / "examples" / "math.yaml")
    s = _math(1)[0]
    rec = chat_record(task, s)
    roles = [m["role"] for m in rec["messages"]]
    assert roles == ["system", "user", "assistant"]
    assert rec["messages"][0]["content"] == task.instruction.strip()
    assert rec["messages"][1]["content"] == s["input"]
    assert rec["messages"][2]["content"] == s["reasoning"] + "\n\n" + s["output"]


def test_export_all_formats(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    datasets = pytest.importorskip("datasets")
    task = Task.load(ROOT / "examples" / "nli.yaml")
    samples = _nli(60)
    res = filter_samples(task, samples, tmp_path / "filter")
    stats = dataset_stats(task, res.kept)
    notes = source_notes_from_dir(DEMO, ["snli_dev"])
    paths = export_dataset(
        task, res.kept, tmp_path / "export", funnel=res.funnel, stats=stats, source_notes=notes
    )
    assert set(paths) == {"jsonl", "parquet", "hf", "chat", "card"}
    assert list(read_jsonl(paths["jsonl"])) == res.kept

    table = pq.read_table(paths["parquet"])
    assert table.num_rows == len(res.kept)
    row = table.slice(0, 1).to_pylist()[0]
    assert row["input"] == res.kept[0]["input"] and row["output"] == res.kept[0]["output"]
    assert row["source"] == "snli_dev" and json.loads(row["provenance"])["model"] == "openai:x"
    assert row["input_text"].startswith("premise: ")

    ds = datasets.load_from_disk(str(paths["hf"]))
    assert len(ds) == len(res.kept) and ds[0]["id"] == res.kept[0]["id"]

    chats = list(read_jsonl(paths["chat"]))
    assert len(chats) == len(res.kept)
    assert chats[0]["messages"][2]["content"] in ("label: entailment", "label: not_entailment")

    card = paths["card"].read_text()
    assert card.startswith("---\n") and "# scitail-nli" in card
    assert task.instruction.strip()[:40] in card
    assert "## How it was filtered" in card and "dropped: exact_duplicate" in card
    assert "unique share" in card and "| snli_dev |" in card
    assert "@inproceedings{snli:emnlp2015" in card  # citation from the source's README


def test_export_subset_and_bad_format(tmp_path: Path) -> None:
    task = Task.load(ROOT / "examples" / "math.yaml")
    paths = export_dataset(task, _math(10), tmp_path, formats=["chat"])
    assert set(paths) == {"chat", "card"}
    assert not (tmp_path / "data.jsonl").exists()
    assert "(no citation information recorded)" in paths["card"].read_text()
    with pytest.raises(SettingsError, match=r"export\.formats: unknown format"):
        export_dataset(task, _math(2), tmp_path, formats=["csv"])


def test_cli_export(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from taskforge._cli import app

    task_path = ROOT / "examples" / "math.yaml"
    kept = tmp_path / "filter" / "kept.jsonl"
    filter_samples(Task.load(task_path), _math(30), kept.parent)
    result = CliRunner().invoke(
        app,
        [
            "export",
            str(task_path),
            str(kept),
            "--out",
            str(tmp_path / "exp"),
            "--format",
            "jsonl,chat",
            "--sources-dir",
            str(DEMO),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "exp" / "data.jsonl").exists() and (tmp_path / "exp" / "chat.jsonl").exists()
    card = (tmp_path / "exp" / "README.md").read_text()
    assert "## How it was filtered" in card  # funnel.json found beside kept.jsonl
    assert "github.com/openai/grade-school-math" in card
    bad = CliRunner().invoke(
        app, ["export", str(task_path), str(kept), "--out", str(tmp_path / "x"), "--format", "csv"]
    )
    assert bad.exit_code == 2  # usage error, one line naming the allowed formats
    assert "error: export.formats: unknown format(s) ['csv']" in bad.output and "Traceback" not in bad.output
