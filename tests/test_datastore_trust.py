"""A datastore is input from others: its manifest cannot send reads outside the store or load a
model from anywhere, and a damaged or mismatched store fails with an error naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from taskforge import ModelMismatchError, search
from taskforge._datastore import Datastore, DatastoreError, UntrustedModelError, build_datastore
from taskforge._embed import resolve_model


@pytest.fixture()
def store(demo_datastore: Path, tmp_path: Path) -> Path:
    """A fresh copy of the demo store, for one test to damage."""
    return Path(shutil.copytree(demo_datastore, tmp_path / "ds"))


def edit_manifest(store: Path, **changes: object) -> dict:
    manifest = json.loads((store / "manifest.json").read_text())
    for key, value in changes.items():
        target = manifest
        *parents, last = key.split("__")
        for p in parents:
            target = target[p]
        target[last] = value
    (store / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def test_data_folder_outside_the_store_is_refused(store: Path, tmp_path: Path) -> None:
    data = json.loads((store / "manifest.json").read_text())["data"]
    shutil.copytree(store / data, tmp_path / "elsewhere" / data)
    edit_manifest(store, data=f"../elsewhere/{data}")
    with pytest.raises(DatastoreError, match=r"manifest\.json.*refusing to read outside the store"):
        Datastore.open(store)


def test_chunk_key_outside_the_store_is_refused(store: Path, demo_sources: Path) -> None:
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["sources"][0]["key"] = "../../victim"
    (store / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatastoreError, match=r"manifest\.json.*'\.\./\.\./victim' would leave the store"):
        build_datastore([demo_sources / "svamp"], store, max_rows=5)


def _copy_of_the_model(where: Path) -> Path:
    _, bundled, _ = resolve_model(None)
    return Path(shutil.copytree(bundled, where))


def test_model_path_outside_known_locations_needs_the_user(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outside = _copy_of_the_model(tmp_path / "somewhere" / "model")
    edit_manifest(store, model__name=str(outside))
    ds = Datastore.open(store)
    with pytest.raises(UntrustedModelError, match=r"manifest\.json.*outside the store"):
        ds.embedder()
    with pytest.raises(UntrustedModelError):
        search(ds, "a man is outside", 3)
    # the user vouches for it by naming it, or by listing its folder
    assert search(Datastore.open(store, model=str(outside)), "a man is outside", 3)
    monkeypatch.setenv("TASKFORGE_MODEL_DIRS", str(tmp_path / "somewhere"))
    assert Datastore.open(store).embedder().name == str(outside)


def test_model_inside_the_store_is_allowed(store: Path) -> None:
    inside = _copy_of_the_model(store / "model")
    edit_manifest(store, model__name=str(inside))
    assert Datastore.open(store).embedder().dim == 384


def test_relative_model_path_is_not_read_from_the_working_directory(
    store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy_of_the_model(tmp_path / "cwd" / "mymodel")
    monkeypatch.chdir(tmp_path / "cwd")
    edit_manifest(store, model__name="mymodel")
    with pytest.raises(UntrustedModelError, match="mymodel"):
        Datastore.open(store).embedder()


def test_store_built_with_another_model_names_the_manifest(store: Path, demo_sources: Path) -> None:
    edit_manifest(store, model__name="some-org/another-model")
    with pytest.raises(ModelMismatchError, match=r"manifest\.json.*another-model.*--model"):
        build_datastore([demo_sources / "svamp"], store, max_rows=5)
    edit_manifest(store, model__name="all-MiniLM-L6-v2", model__dim=768)
    with pytest.raises(
        DatastoreError, match=r"vectors\.npy: holds float32\[\d+, 384\], the manifest says \[\d+, 768\]"
    ):
        Datastore.open(store)


@pytest.mark.parametrize("name", ["vectors.npy", "vector_row.npy", "row_source.npy", "rows.arrow"])
def test_missing_array_is_named(store: Path, name: str) -> None:
    data = json.loads((store / "manifest.json").read_text())["data"]
    (store / data / name).unlink()
    with pytest.raises(DatastoreError, match=rf"{name}: missing"):
        Datastore.open(store)


@pytest.mark.parametrize(
    "name", ["vectors.npy", "vector_column.npy", "description_vectors.npy", "rows.arrow"]
)
def test_truncated_array_is_named(store: Path, name: str) -> None:
    path = store / json.loads((store / "manifest.json").read_text())["data"] / name
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatastoreError, match=rf"{name}: .*(truncated|rebuild)"):
        Datastore.open(store)


def test_damaged_manifest_is_named(store: Path) -> None:
    (store / "manifest.json").write_text('{"format": "taskforge-datastore", "version": 1, "kind"')
    with pytest.raises(DatastoreError, match=r"manifest\.json: not valid JSON"):
        Datastore.open(store)
    (store / "manifest.json").write_text('{"format": "taskforge-datastore", "version": 1, "kind": "rows"}')
    with pytest.raises(DatastoreError, match=r"manifest\.json: missing or malformed field"):
        Datastore.open(store)


def test_intact_store_opens_and_reads(store: Path) -> None:
    ds = Datastore.open(store)
    assert ds.n_rows == sum(s.n_rows for s in ds.sources) and np.isfinite(np.asarray(ds.vectors())).all()
