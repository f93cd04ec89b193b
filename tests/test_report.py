"""The run report without a browser: reading the run directory, escaping, degrading gracefully."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from taskforge._io import read_jsonl, write_jsonl
from taskforge._report import build_report, json_for_script, load_run
from taskforge._report._embedmap import MapPoint, build_map, pca_2d, project
from taskforge._report._load import clip, reason_group
from taskforge.testing import NASTY, HashEmbedder, write_fake_run

DEMO_SOURCES = Path(__file__).resolve().parents[1] / "demo" / "sources"
ATTACK = "</script><script>alert(1)</script>"


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fake_run(tmp_path_factory.mktemp("report") / "run", sources=DEMO_SOURCES, n_items=200)


def _blob(html: str, name: str) -> dict:
    m = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', html, re.S)
    assert m, name
    return json.loads(m.group(1))


def test_fake_run_has_every_documented_file(fake_run: Path) -> None:
    for name in (
        "task.yaml",
        "settings.json",
        "retrieve/items.jsonl",
        "transform/samples.jsonl",
        "transform/rejects.jsonl",
        "filter/kept.jsonl",
        "filter/rejects.jsonl",
        "filter/funnel.json",
        "filter/stats.json",
        "eval/results.json",
        "retrieve/record.json",
        "transform/record.json",
        "filter/record.json",
    ):
        assert (fake_run / name).is_file(), name
    item = json.loads((fake_run / "retrieve/items.jsonl").open().readline())
    assert {"rank", "source", "row_id", "global_row", "row", "cells", "scores", "method"} <= set(item)


def test_load_run_counts_and_joins(fake_run: Path) -> None:
    run = load_run(fake_run)
    assert run.n_items == 200
    assert run.n_kept == len(run.kept) and run.n_kept > 100
    assert run.n_samples == run.n_kept + run.n_rejects["filter"]
    assert run.n_items == run.n_samples + run.n_rejects["transform"]
    assert set(run.scores) == {"final", "query", "answer", "dataset"}
    assert sum(run.items_by_source.values()) == 200
    assert sum(run.kept_by_label.values()) == run.n_kept
    # every kept sample's row was found in items.jsonl
    assert all((s["provenance"]["source"], s["provenance"]["row_id"]) in run.items for s in run.kept)
    assert run.notes == []


def test_script_breakout_is_escaped(fake_run: Path) -> None:
    html = build_report(fake_run, embedder=HashEmbedder(32), out=fake_run / "r1.html").read_text()
    assert ATTACK not in html
    assert "<img src=x" not in html
    assert html.count("<script") == 3  # two JSON blobs and the page's own script
    data = _blob(html, "browser-data")
    assert any(s["input"] and ATTACK in s["input"]["premise"] for s in data["kept"])  # text survives intact
    assert any(s["input"] and s["input"]["premise"].startswith(NASTY) for s in data["kept"])


def test_json_for_script_escapes_everything_dangerous() -> None:
    text = str(json_for_script({"a": ATTACK + "<!-- & \u2028\u2029", "nan": float("nan")}))
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": ATTACK + "<!-- & \u2028\u2029", "nan": None}


def test_html_in_task_and_stats_is_escaped(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "run", sources=DEMO_SOURCES, n_items=30)
    task = (run / "task.yaml").read_text().replace("name: scitail-nli", "name: '<i>x</i>'")
    (run / "task.yaml").write_text(task)
    (run / "filter/stats.json").write_text(json.dumps({"<b>k</b>": 1, "by <s>": {ATTACK: 3, "x": 1}}))
    evil_source = "<img src=x onerror=alert(3)>"
    for name in ("retrieve/items.jsonl", "filter/kept.jsonl", "filter/rejects.jsonl"):
        path = run / name
        path.write_text(path.read_text().replace('"snli_dev"', json.dumps(evil_source)))
    html = build_report(run, embedder=HashEmbedder(32)).read_text()
    assert evil_source not in html and "&lt;img src=x onerror=alert(3)&gt;" in html  # chart label
    assert "<i>x</i>" not in html and "&lt;i&gt;x&lt;/i&gt;" in html
    assert "<b>k</b>" not in html and ATTACK not in html


def test_report_sections_and_caps(fake_run: Path) -> None:
    html = build_report(
        fake_run, embedder=HashEmbedder(32), max_kept=10, max_rejects=6, out=fake_run / "r2.html"
    ).read_text()
    for section in (
        'id="task"',
        'id="funnel"',
        'id="retrieval"',
        'id="map"',
        'id="diversity"',
        'id="eval"',
        'id="samples"',
    ):
        assert section in html
    data = _blob(html, "browser-data")
    assert len(data["kept"]) == 10 and len(data["rejects"]) == 6
    assert {r["stage"] for r in data["rejects"]} == {"transform", "filter"}
    assert "(capped to keep this file small" in html
    # the rows the samples came from travel with them, and only those
    assert all(s["item"] in data["items"] for s in data["kept"])
    assert len(data["items"]) <= 16
    points = _blob(html, "map-data")["points"]
    assert {p["k"] for p in points} == {"example", "retrieved", "kept"}
    assert all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 for p in points)
    # self-contained: nothing is fetched (no links, external scripts, stylesheets, fonts or images)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|<link\b|@import|url\(|<img\b""", html)


def test_run_without_eval_rejects_or_stats(tmp_path: Path) -> None:
    run = write_fake_run(
        tmp_path / "run", sources=DEMO_SOURCES, n_items=60, with_eval=False, with_rejects=False
    )
    for p in ("transform/rejects.jsonl", "filter/rejects.jsonl", "filter/stats.json", "filter/funnel.json"):
        (run / p).unlink(missing_ok=True)
    html = build_report(run, embedder=HashEmbedder(32)).read_text()
    assert 'id="eval"' not in html
    assert "This run has no rejects files." in html
    assert "No filter/stats.json in this run; above: the labels of the kept samples." in html
    assert _blob(html, "browser-data")["rejects"] == []


def test_only_task_and_retrieve(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "run", sources=DEMO_SOURCES, n_items=20, with_eval=False)
    for p in ("transform", "filter"):
        shutil.rmtree(run / p)
    html = build_report(run, embedder=False).read_text()
    assert "Retrieved" in html and "Kept" not in html.split('id="funnel"')[0]
    assert "the embedding map was turned off" in html


def test_empty_and_broken_run_dir(tmp_path: Path) -> None:
    (tmp_path / "filter").mkdir()
    (tmp_path / "filter/kept.jsonl").write_text(
        '{"id": "a", "input": "x", "output": "y"}\n{broken\n{"id": "b"}\n'
    )
    (tmp_path / "filter/stats.json").write_text("{not json")
    (tmp_path / "task.yaml").write_text("name: t\n")  # not a valid task (no instruction or examples)
    html = build_report(tmp_path, embedder=False).read_text()
    assert "could not be loaded as a task" in html
    assert "stats.json: could not be read" in html
    assert "kept.jsonl: stopped reading" in html
    with pytest.raises(FileNotFoundError):
        build_report(tmp_path / "nope")


def test_missing_item_rows_and_plain_string_task(tmp_path: Path) -> None:
    (tmp_path / "task.yaml").write_text(
        "name: math\ninstruction: Solve it.\nexamples:\n  - input: 1+1\n    output: '2'\n"
    )
    write_jsonl(
        tmp_path / "filter/kept.jsonl",
        [
            {
                "id": "s-1",
                "input": "2+2",
                "output": "4",
                "provenance": {"source": "gsm8k", "row_id": "train.jsonl:1"},
            },
        ],
    )
    html = build_report(tmp_path, embedder=HashEmbedder(32)).read_text()
    data = _blob(html, "browser-data")
    assert data["kept"][0]["item"] == "gsm8k\u241ftrain.jsonl:1" and data["items"] == {}
    assert data["label_field"] is None


def test_embedder_failure_degrades(fake_run: Path) -> None:
    class Broken:
        def encode(self, texts: list[str]) -> np.ndarray:
            raise OSError("model files not found")

    html = build_report(fake_run, embedder=Broken(), out=fake_run / "r3.html").read_text()
    assert "could not embed (OSError: model files not found)" in html


def test_projection_helpers() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 8)).astype(np.float32)
    assert pca_2d(x).shape == (40, 2)
    assert pca_2d(x[:1]).shape == (1, 2)
    xy, used = project(x, "pca")
    assert used == "PCA" and xy.min() >= 0 and xy.max() <= 1
    pts = [(MapPoint("kept", "s", "t"), "t")] * 3
    data = build_map(pts, None, vectors=np.eye(3, dtype=np.float32), projection="pca")
    assert len(data["points"]) == 3
    with pytest.raises(ValueError):
        build_map(pts, None, vectors=np.eye(2, dtype=np.float32))


def test_reason_group_and_clip() -> None:
    assert reason_group("ROUGE-L 0.83 >= 0.70 with s-3f2a9b7c1d") == "ROUGE-L # >= # with <id>"
    assert reason_group(None) == reason_group("  ") == "(no reason given)"
    assert reason_group("line one\nline two") == "line one"
    long = clip({"a": ["x" * 5000]}, 100)
    assert long["a"][0].startswith("x" * 100) and "4,900 more characters" in long["a"][0]


def test_report_command(fake_run: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from taskforge._cli import app

    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", str(fake_run), "--no-map", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("<!DOCTYPE html>")
    res = CliRunner().invoke(app, ["report", str(tmp_path / "missing"), "--no-map"])
    assert res.exit_code == 3 and "no such run directory" in res.output  # input error, one line


def test_funnel_from_funnel_json_when_rejects_are_missing(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "run", sources=DEMO_SOURCES, n_items=120, with_eval=False)
    funnel = json.loads((run / "filter/funnel.json").read_text())
    (run / "filter/rejects.jsonl").unlink()
    html = build_report(run, embedder=False).read_text()
    chart = html.split('id="funnel"')[1].split("</section>")[0]
    names = [k for k, v in funnel["dropped"].items() if v]
    assert names and all(f"−{funnel['dropped'][k]:,} {k}" in chart for k in names)
    positions = [chart.index(f" {k}</text>") for k in names]
    assert positions == sorted(positions)  # funnel.json's order
    assert "contamination" in chart and "scitail_test" in chart


@pytest.mark.slow
def test_tsne_projection() -> None:
    x = np.random.default_rng(0).normal(size=(30, 16)).astype(np.float32)
    xy, used = project(x, "tsne")
    assert used == "t-SNE" and xy.shape == (30, 2) and xy.min() >= 0 and xy.max() <= 1
    assert project(x[:3], "auto")[1] == "PCA"  # too few points for t-SNE


# ---- is this good, and what next? (issue 19, point 5) ------------------------------------------------
def _next_steps(html: str) -> list[str]:
    m = re.search(r'<div class="card next-steps".*?<ul>(.*?)</ul>', html, re.S)
    assert m, "no next-steps box"
    return [
        re.sub(r"<[^>]+>", "", li).replace("&#39;", "'")
        for li in re.findall(r"<li>(.*?)</li>", m.group(1), re.S)
    ]


def test_uniqueness_headline_separates_inputs_and_says_why(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "run", sources=DEMO_SOURCES, n_items=60)
    html = build_report(run, embedder=False).read_text()
    tile = re.search(
        r'<div class="tl">Unique inputs</div><div class="tv">([^<]*)</div><div class="ts">([^<]*)', html
    )
    assert tile and tile.group(1) == "5.4%" and "premise reused" in tile.group(2)
    assert "Unique samples" not in html  # the one alarming figure over input+output is gone
    assert "is reused" in html and "Outputs are labels (2 distinct)" in html
    assert "<code>input.hypothesis</code>" in html  # the per-part table


def test_report_has_no_unnamed_sections(fake_run: Path) -> None:
    html = build_report(fake_run, embedder=False).read_text()
    assert "<h3>other</h3>" not in html and "<summary>other</summary>" not in html
    assert "<h3>Overlap with evaluation sets (before decontamination)</h3>" in html
    row = re.search(r"<tr><th>scitail_test</th>(.*?)</tr>", html, re.S)
    assert row and row.group(1).endswith('<td class="num">yes</td>')  # removed: a word, not a JSON dump


def test_next_steps_follow_the_numbers(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "run", sources=DEMO_SOURCES, n_items=60)
    steps = _next_steps(build_report(run, embedder=False).read_text())
    assert any(s.startswith("Only 44 samples were kept") for s in steps)
    assert not any("is 100% of the kept samples" in s for s in steps)

    # one label and one source dominate; most transform items were rejected for one reason
    kept_path = run / "filter" / "kept.jsonl"
    kept = list(read_jsonl(kept_path))
    for s in kept:
        s["output"]["label"] = "entailment"
        s["provenance"]["source"] = "snli_dev"
    kept[0]["output"]["label"] = kept[1]["output"]["label"] = "not_entailment"
    write_jsonl(kept_path, kept)
    rejects = [
        {
            "stage": "transform",
            "filter": "no_column",
            "reason": f"no column: nothing like 'premise' ({i})",
            "item": {"source": "gsm8k", "row_id": f"train.jsonl:{i}"},
        }
        for i in range(40)
    ]
    write_jsonl(run / "transform" / "rejects.jsonl", rejects)
    (run / "eval" / "results.json").unlink()
    steps = _next_steps(build_report(run, embedder=False).read_text())
    text = " ".join(steps)
    assert "40 of 60 items were rejected in transform as 'no_column': the mapper found no column" in text
    assert "'entailment' is 95% of the kept samples" in text and "max_per_label: 2}" in text
    assert "'snli_dev' made 100% of the kept samples" in text and "per_source_cap" in text
    assert "No evaluation yet: run again with --train --eval FILE" in text

    for s in kept:
        s["output"]["label"] = "entailment"
    write_jsonl(kept_path, kept)
    steps = _next_steps(build_report(run, embedder=False).read_text())
    assert any(s.startswith("No kept sample has the label 'not_entailment'") for s in steps)


def _tile(html: str, label: str) -> str:
    m = re.search(rf'<div class="tile[^"]*"><div class="tl">{label}</div>.*?</div></div>', html, re.S)
    assert m, label
    return m.group(0)


def test_accuracy_tile_shows_baselines_and_turns_amber(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "run", sources=DEMO_SOURCES, n_items=40)
    html = build_report(run, embedder=HashEmbedder()).read_text()
    tile = _tile(html, "accuracy")
    assert "majority 0.604" in tile and "examples only 0.612" in tile and "warn" not in tile
    assert "majority (not_entailment)" in html and "examples only (3)" in html  # rows of the eval table
    assert "confusion matrix" in html and "per label" in html
    # an expert that answers one label and scores the majority rate: amber tile and the warnings shown
    res_path = run / "eval" / "results.json"
    res = json.loads(res_path.read_text())
    res["metrics"] = {"accuracy": 0.604, "macro_f1": 0.38, "top_share": 1.0}
    res["warnings"] = ["the expert answers 'not_entailment' for 100% of the rows: it has learned nothing"]
    res_path.write_text(json.dumps(res))
    html = build_report(run, embedder=HashEmbedder()).read_text()
    assert 'class="tile accent warn"' in _tile(html, "accuracy")
    assert html.count("answers &#39;not_entailment&#39; for 100% of the rows") == 2  # banner + eval section
