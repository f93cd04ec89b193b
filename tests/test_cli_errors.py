"""The CLI as a user meets it: mistakes stop early with one line and a documented exit code; stages chain."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taskforge._cli import app

REPO = Path(__file__).resolve().parents[1]
NLI = REPO / "examples" / "nli.yaml"


def _invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(
    ("config", "key", "allowed"),
    [
        ("transform: {bogus_key: 1}\n", "transform.bogus_key", "allowed transform: method, style"),
        ("export: {formatz: [jsonl]}\n", "export.formatz", "allowed export: formats, sources_dir"),
        ("retreive: {n: 5}\n", "retreive", "allowed: retrieve, llm, transform, filter, export, train, eval"),
    ],
)
def test_config_typo_stops_the_run_before_any_stage(
    demo_datastore: Path, tmp_path: Path, config: str, key: str, allowed: str
) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(config)
    out = tmp_path / "run"
    res = _invoke("run", NLI, "--datastore", demo_datastore, "--out", out, "--mapper", "--config", cfg)
    assert res.exit_code == 2, res.output
    assert key in res.output and allowed in " ".join(res.output.split())
    assert "Traceback" not in res.output and res.output.count("error:") == 1
    assert not out.exists()  # nothing ran


def test_bad_setting_value_names_the_key(demo_datastore: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("filter: {near_dup_threshold: 2}\n")
    res = _invoke("run", NLI, "--datastore", demo_datastore, "--out", tmp_path / "run", "--config", cfg)
    assert res.exit_code == 2 and "filter.near_dup_threshold" in res.output


def test_parquet_items_go_into_transform(demo_datastore: Path, tmp_path: Path) -> None:
    items = tmp_path / "items.parquet"
    res = _invoke("retrieve", NLI, "-d", demo_datastore, "-n", "15", "--out", items)
    assert res.exit_code == 0, res.output
    out = tmp_path / "samples.jsonl"
    res = _invoke("transform", NLI, items, "--mapper", "--out", out)
    assert res.exit_code == 0, res.output
    samples = [json.loads(line) for line in out.read_text().splitlines()]
    rejects = (tmp_path / "rejects.jsonl").read_text().splitlines()
    assert samples and len(samples) + len(rejects) == 15
    assert all(s["provenance"]["source"] and s["provenance"]["row_id"] for s in samples)


def test_input_errors_exit_3_with_file_and_line(demo_datastore: Path, tmp_path: Path) -> None:
    broken = tmp_path / "items.jsonl"
    broken.write_text('{"source": "a", "row_id": "1", "rank": 1}\n{not json\n')
    res = _invoke("transform", NLI, broken, "--mapper", "--out", tmp_path / "s.jsonl")
    assert res.exit_code == 3 and f"{broken}:2: invalid JSON" in " ".join(res.output.split())
    assert "Traceback" not in res.output

    res = _invoke("retrieve", NLI, "-d", tmp_path / "no-store", "--out", tmp_path / "i.jsonl")
    assert res.exit_code == 3 and "no datastore here" in res.output

    res = _invoke("stats", tmp_path / "missing.jsonl")
    assert res.exit_code == 3 and "no such samples file" in res.output


def test_verbose_adds_the_traceback(tmp_path: Path) -> None:
    res = _invoke("--verbose", "retrieve", NLI, "-d", tmp_path / "no-store", "--out", tmp_path / "i.jsonl")
    assert res.exit_code == 3 and "Traceback" in res.output and "DatastoreNotFound" in res.output


def test_run_writes_what_the_single_stage_commands_write(demo_datastore: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    res = _invoke(
        "run", NLI, "--datastore", demo_datastore, "--out", run_dir, "--mapper", "-n", "30", "--no-report"
    )
    assert res.exit_code == 0, res.output
    flt = tmp_path / "filter"
    res = _invoke("filter", NLI, run_dir / "transform" / "samples.jsonl", "--out", flt)
    assert res.exit_code == 0, res.output
    names = {p.name for p in (run_dir / "filter").iterdir()} - {"record.json"}
    assert (
        names
        == {p.name for p in flt.iterdir()}
        == {"kept.jsonl", "rejects.jsonl", "funnel.json", "stats.json"}
    )
    assert (flt / "kept.jsonl").read_text() == (run_dir / "filter" / "kept.jsonl").read_text()
    settings = json.loads((run_dir / "settings.json").read_text())
    assert settings["retrieve"]["n"] == 30 and settings["transform"]["method"] == "mapper"
    assert set(settings) == {"datastore", "retrieve", "llm", "transform", "filter", "export", "train", "eval"}


def test_a_stage_that_makes_nothing_fails_with_exit_1(demo_datastore: Path, tmp_path: Path) -> None:
    import yaml

    spec = yaml.safe_load(NLI.read_text())
    spec["exclude_sources"] = ["*"]  # nothing left to retrieve from
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump(spec))
    res = _invoke("run", task, "--datastore", demo_datastore, "--out", tmp_path / "run", "--mapper")
    assert res.exit_code == 1 and "retrieve: no items" in res.output and "Traceback" not in res.output
