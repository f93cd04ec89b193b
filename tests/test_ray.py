"""The Ray executor: a datastore built as Ray tasks equals the local build (vectors and manifest).

Starts a local Ray instance (``num_cpus=2``); skipped where Ray is not installed (the
``taskforge[ray]`` extra) and slow on 2 cores (each worker loads the model), so marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from taskforge import Datastore, build_datastore
from taskforge._datastore import SourceError

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]  # two builds and a Ray start on 2 busy cores


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _manifest(path: Path) -> dict:
    m = json.loads((path / "manifest.json").read_text())
    m.pop("updated_at")
    m.pop("data")  # a fresh folder name per merge: the contents are compared below
    return m


def test_ray_build_equals_local_build(
    tmp_path: Path, demo_sources: Path, ray_cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKFORGE_EMBED_THREADS", "1")  # same thread count here and in the workers
    sources = [demo_sources / "snli_dev", demo_sources / "boolq", demo_sources / "gsm8k"]
    opts = {"max_rows": 30, "chunk_rows": 16, "precision": "fp32"}
    build_datastore(sources, tmp_path / "local", **opts)
    report = build_datastore(sources, tmp_path / "ray", executor="ray", **opts)
    assert [s["name"] for s in report.sources] == ["snli_dev", "boolq", "gsm8k"]
    assert _manifest(tmp_path / "local") == _manifest(tmp_path / "ray")
    a, b = Datastore.open(tmp_path / "local"), Datastore.open(tmp_path / "ray")
    np.testing.assert_array_equal(np.asarray(a.vectors()), np.asarray(b.vectors()))
    np.testing.assert_array_equal(np.asarray(a.vector_row()), np.asarray(b.vector_row()))
    assert a.get_rows([0, 5, a.n_rows - 1]) == b.get_rows([0, 5, b.n_rows - 1])


def test_a_failing_source_on_ray_keeps_the_others(tmp_path: Path, demo_sources: Path, ray_cluster) -> None:
    empty = tmp_path / "empty_src"
    empty.mkdir()
    (empty / "rows.jsonl").write_text('{"n": 1}\n')  # no text cells
    with pytest.raises(SourceError, match="no rows with text"):
        build_datastore([demo_sources / "snli_dev", empty], tmp_path / "ds", max_rows=10, executor="ray")
    assert [s.name for s in Datastore.open(tmp_path / "ds").sources] == ["snli_dev"]


@pytest.mark.parametrize("method", ["rebase_parts", "rebase_tuned", "craft"])
def test_ray_retrieve_equals_local_retrieve(demo_datastore: Path, ray_cluster, method: str) -> None:
    """Source shards scored as Ray tasks and merged: the same top N, ids and scores, as local."""
    from taskforge import Task, retrieve

    task = Task.load(Path(__file__).resolve().parents[1] / "examples" / "nli.yaml")
    local = retrieve(task, demo_datastore, n=60, method=method)
    on_ray = retrieve(task, demo_datastore, n=60, method=method, executor="ray")
    assert [it["global_row"] for it in on_ray.items] == [it["global_row"] for it in local.items]
    assert [it["scores"] for it in on_ray.items] == [it["scores"] for it in local.items]
    assert len({it["source"] for it in local.items}) > 1  # the top N spans several shards' sources
