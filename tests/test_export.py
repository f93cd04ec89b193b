"""Export: a Hugging Face dataset folder (Parquet configs, chat SFT records, JSONL, card), and pushing it."""

from __future__ import annotations

import itertools
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
    assert set(paths) == {"jsonl", "parquet", "hf", "chat", "chat_parquet", "card"}
    assert list(read_jsonl(paths["jsonl"])) == res.kept

    table = pq.read_table(paths["parquet"])
    assert table.num_rows == len(res.kept)
    row = table.slice(0, 1).to_pylist()[0]
    assert row["input"] == res.kept[0]["input"] and row["output"] == res.kept[0]["output"]
    assert row["source"] == "snli_dev" and row["provenance"]["model"] == "openai:x"  # a struct, not JSON
    assert row["input_text"].startswith("premise: ")

    ds = datasets.load_from_disk(str(paths["hf"]))
    assert len(ds) == len(res.kept) and ds[0]["id"] == res.kept[0]["id"]
    assert ds[0]["provenance"]["source"] == "snli_dev"

    chats = list(read_jsonl(paths["chat"]))
    assert len(chats) == len(res.kept)
    # a one-field output is answered with its value: what the expert should say
    assert {c["messages"][2]["content"] for c in chats} <= {"entailment", "not_entailment"}

    card = paths["card"].read_text()
    assert card.startswith("---\n") and "# scitail-nli" in card
    assert task.instruction.strip()[:40] in card
    assert "## How it was filtered" in card and "dropped: exact_duplicate" in card
    assert "unique share" in card and "| snli_dev |" in card
    assert "@inproceedings{snli:emnlp2015" in card  # citation from the source's README
    assert "| snli_dev | " in card and "SNLI upstream CC BY-SA 4.0 |" in card  # the licence, per source


def test_export_subset_and_bad_format(tmp_path: Path) -> None:
    task = Task.load(ROOT / "examples" / "math.yaml")
    paths = export_dataset(task, _math(10), tmp_path, formats=["chat"])
    assert set(paths) == {"chat", "chat_parquet", "card"}
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


def test_export_folder_loads_with_load_dataset(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    task = Task.load(ROOT / "examples" / "nli.yaml")
    samples = _nli(30)
    samples[3]["provenance"]["repaired"] = True  # keys that only some samples have
    samples[4]["provenance"]["scores"] = {}  # an empty mapping (no Arrow struct can hold it)
    samples[5]["provenance"]["scores"] = {"final": 0.5, "query": 0.4}
    out = tmp_path / "export"
    export_dataset(task, samples, out, stats=dataset_stats(task, samples))

    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.num_rows == 30 and ds[0]["input"] == samples[0]["input"]
    assert ds[3]["provenance"]["repaired"] is True and ds[5]["provenance"]["scores"]["query"] == 0.4
    chat = datasets.load_dataset(str(out), "chat", split="train", cache_dir=str(tmp_path / "cache"))
    assert [m["role"] for m in chat[0]["messages"]] == ["system", "user", "assistant"]
    assert chat[0]["messages"][2]["content"] == samples[0]["output"]["label"]
    card = (out / "README.md").read_text()
    assert "config_name: default" in card and "path: data/train.parquet" in card
    assert 'load_dataset("PATH_OR_REPO", "chat", split="train")' in card


def test_chat_answer_keeps_names_for_several_fields() -> None:
    task = Task.load(ROOT / "examples" / "nli.yaml")
    sample = {"input": {"premise": "p", "hypothesis": "h"}, "output": {"label": "entailment", "why": "w"}}
    assert chat_record(task, sample)["messages"][2]["content"] == "label: entailment\nwhy: w"


def test_card_names_run_settings_and_licences_from_the_store(tmp_path: Path) -> None:
    from taskforge._quality._card import source_folders

    task = Task.load(ROOT / "examples" / "nli.yaml")
    store = tmp_path / "store"
    manifest = [
        {"name": "snli_dev", "location": str(DEMO / "snli_dev")},
        {"name": "gone", "location": "no/such/folder"},
        {"name": "boolq", "location": "sources/boolq"},  # relative: found beside the store
    ]
    (tmp_path / "sources").symlink_to(DEMO)
    folders = source_folders(manifest, store)
    assert folders == {"snli_dev": DEMO / "snli_dev", "boolq": tmp_path / "sources" / "boolq"}
    run_settings = {
        "datastore": str(store),
        "retrieve": {"method": "rebase_tuned", "n": 300},
        "transform": {"method": "mapper"},
    }
    paths = export_dataset(
        task, _nli(10), tmp_path / "out", formats=["jsonl"], source_dirs=folders, run_settings=run_settings
    )
    card = paths["card"].read_text()
    assert "## How it was made" in card and "retrieval: `rebase_tuned`, top 300" in card
    assert "transformation: the no-LLM mapper" in card and '"datastore": "' in card
    assert "SNLI upstream CC BY-SA 4.0" in card and "license: other" in card


def test_push_to_hub_sends_a_loadable_dataset(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    pytest.importorskip("huggingface_hub")
    import subprocess
    import sys

    from taskforge.testing import FakeHubServer

    task_path = ROOT / "examples" / "nli.yaml"
    kept = tmp_path / "filter" / "kept.jsonl"
    filter_samples(Task.load(task_path), _nli(40), kept.parent)
    with FakeHubServer(token="hf_right") as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_right", "HF_HUB_OFFLINE": "0"}
        cmd = [
            sys.executable,
            "-m",
            "taskforge",
            "export",
            str(task_path),
            str(kept),
            "--out",
            str(tmp_path / "exp"),
        ]
        done = subprocess.run(
            [*cmd, "--push-to-hub", "me/nli-data"], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"pushed to {hub.url}/datasets/me/nli-data" in done.stdout
        pushed = set(hub.repos["me/nli-data"])
        assert {"README.md", "data/train.parquet", "chat/train.parquet", "chat.jsonl", "data.jsonl"} <= pushed
        assert not any(p.startswith("hf/") for p in pushed)  # the local save_to_disk copy stays home
        assert hub.repo_types["me/nli-data"] == "dataset"
        local = hub.write_repo("me/nli-data", tmp_path / "clone")

        wrong = subprocess.run(
            [*cmd, "--push-to-hub", "me/nli-data"],
            env={**env, "HF_TOKEN": "hf_wrong"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
        assert "the Hub refused the token" in wrong.stderr and wrong.stderr.count("error:") == 1
    ds = datasets.load_dataset(str(local), split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.num_rows == len(list(read_jsonl(kept)))
