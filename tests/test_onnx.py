"""The onnx embedding backend: int8 export of the bundled model, its agreement with fp32, and stores
that record the backend they were built with (queries embed the same way)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taskforge import Datastore, build_datastore
from taskforge._embed import Embedder, resolve_backend
from taskforge._errors import SettingsError
from taskforge._onnx import model_layout, onnx_available

needs_onnx = pytest.mark.skipif(not onnx_available(), reason="onnxruntime not installed (taskforge[onnx])")

TEXTS = [
    "Does the premise entail the hypothesis?",
    "A man plays a guitar on stage.",
    "The quarterly report shows revenue growing faster than costs in every region but one.",
    "dog",
]


def test_backend_and_precision_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKFORGE_EMBED_BACKEND", raising=False)
    assert resolve_backend("torch", "fp32") == ("torch", "fp32")
    assert resolve_backend("auto", "fp32") == ("torch", "fp32")  # a torch precision picks torch
    assert resolve_backend("auto", "bf16") == ("torch", "bf16")
    assert resolve_backend("auto", "auto")[0] == "torch"  # onnx is opted into
    if onnx_available():  # without onnxruntime every onnx pair is the missing-extra error (next test)
        assert resolve_backend("onnx", "auto") == ("onnx", "int8")
        assert resolve_backend("auto", "int8") == ("onnx", "int8")
        monkeypatch.setenv("TASKFORGE_EMBED_BACKEND", "onnx")
        assert resolve_backend("auto", "auto") == ("onnx", "int8")
    monkeypatch.setenv("TASKFORGE_EMBED_BACKEND", "torch")
    assert resolve_backend("auto", "auto")[0] == "torch"
    refused = [
        ("torch", "int8", "onnx backend"),
        ("tensorrt", "auto", "backend must be"),
        ("torch", "int4", "precision must be"),
    ]
    if onnx_available():
        refused.append(("onnx", "bf16", "not bf16"))
    for backend, precision, match in refused:
        with pytest.raises(SettingsError, match=match):
            resolve_backend(backend, precision)


def test_onnx_without_onnxruntime_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import taskforge._onnx

    monkeypatch.setattr(taskforge._onnx, "onnx_available", lambda: False)
    with pytest.raises(SettingsError, match=r"taskforge\[onnx\]"):
        resolve_backend("onnx", "auto")


def test_models_the_export_does_not_cover_are_refused(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"},
            ]
        )
    )
    with pytest.raises(SettingsError, match="use --backend torch"):
        model_layout(tmp_path)


@needs_onnx
def test_int8_agrees_with_fp32_and_is_cached() -> None:
    onnx = Embedder.load(backend="onnx")
    assert (onnx.backend, onnx.precision, onnx.dim) == ("onnx", "int8", 384)
    assert Embedder.load(backend="onnx", precision="int8") is onnx
    a = onnx.encode(TEXTS)
    assert a.shape == (4, 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    ref = Embedder.load(backend="torch", precision="fp32").encode(TEXTS)
    assert (a * ref).sum(1).min() > 0.97  # int8 weights and activations; mean ~0.99 on real cells
    # dynamic int8 quantises activations per batch: a text alone embeds slightly differently
    alone = np.vstack([onnx.encode([t]) for t in TEXTS])
    assert (a * alone).sum(1).min() > 0.95
    # rows stay in input order: each vector is nearest its own fp32 vector
    assert np.array_equal(np.argmax(a @ ref.T, axis=1), np.arange(4))
    # the fp32 export is the torch model, to float rounding
    full = Embedder.load(backend="onnx", precision="fp32").encode(TEXTS)
    assert (full * ref).sum(1).min() > 0.9999
    # the export is made once and reused: a second load finds the cached files
    from taskforge._embed import resolve_model
    from taskforge._onnx import exported_model

    target = Path(resolve_model(None)[1])
    first = exported_model(target)
    mtime = first.stat().st_mtime_ns
    assert exported_model(target) == first and first.stat().st_mtime_ns == mtime


@needs_onnx
def test_store_records_its_backend_and_queries_with_it(tmp_path: Path, demo_sources: Path) -> None:
    out = tmp_path / "ds"
    build_datastore([demo_sources / "snli_dev"], out, max_rows=20, backend="onnx")
    ds = Datastore.open(out)
    assert ds.manifest["model"] == {
        "name": "all-MiniLM-L6-v2",
        "dim": 384,
        "precision": "int8",
        "backend": "onnx",
    }
    emb = ds.embedder()
    assert (emb.backend, emb.precision) == ("onnx", "int8")

    torch_out = tmp_path / "torch"
    build_datastore([demo_sources / "snli_dev"], torch_out, max_rows=20, backend="torch", precision="fp32")
    fp32 = Datastore.open(torch_out)
    assert (fp32.manifest["model"]["backend"], fp32.manifest["model"]["precision"]) == ("torch", "fp32")
    agree = (np.asarray(ds.vectors()) * np.asarray(fp32.vectors())).sum(1)  # same rows, same order
    assert agree.mean() > 0.98

    # adding a source with the default backend keeps the store's own
    build_datastore([demo_sources / "scitail_test"], out, max_rows=20)
    assert Datastore.open(out).manifest["model"]["backend"] == "onnx"


def test_store_without_a_recorded_backend_is_torchs(tmp_path: Path, demo_sources: Path) -> None:
    out = tmp_path / "ds"
    build_datastore([demo_sources / "snli_dev"], out, max_rows=10, backend="torch", precision="fp32")
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["model"]["backend"]  # as written before backends existed
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert Datastore.open(out).embedder().backend == "torch"
