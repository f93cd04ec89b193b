"""Two writers, one datastore folder: the second waits (or stops when told), nothing is lost;
readers keep seeing the last complete store while a build replaces it.

Real ``taskforge datastore build`` processes, the real model, real files.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import taskforge._datastore._store as store_module
from taskforge import search
from taskforge._cli import app
from taskforge._datastore import Datastore, build_datastore

ENV = {**os.environ, "TASKFORGE_QUIET": "1"}


def build_cmd(source: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "taskforge", "datastore", "build", str(source), "--out", str(out),
            "--precision", "fp32", *extra]  # fmt: skip


def test_two_builds_at_once_keep_both_sources(tmp_path: Path, demo_sources: Path) -> None:
    out = tmp_path / "ds"
    names = ("snli_dev", "svamp")
    procs = [
        subprocess.Popen(
            build_cmd(demo_sources / name, out, "--max-rows", "40"),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    errs = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    ds = Datastore.open(out)
    assert sorted(s.name for s in ds.sources) == sorted(names)
    assert ds.n_rows == 80 and ds.n_vectors == len(ds.vector_row())
    rows = ds.get_rows(np.arange(ds.n_rows))
    assert {r["source"] for r in rows} == set(names)
    kept = {e["key"] for e in ds.manifest["sources"]}
    assert {p.name for p in (out / "chunks").iterdir()} == kept  # no orphaned chunks


def test_second_writer_stops_with_no_wait(tmp_path: Path, demo_sources: Path) -> None:
    from taskforge._io import LockedError, writer_lock

    out = tmp_path / "ds"
    with writer_lock(out, what="datastore build"):  # another build is writing here
        res = CliRunner().invoke(
            app, ["datastore", "build", str(demo_sources / "svamp"), "--out", str(out), "--no-wait"]
        )
    said = " ".join(res.output.split())  # rich wraps long lines
    assert res.exit_code == 1
    assert "in use by another datastore build" in said and f"pid {os.getpid()}" in said
    assert not (out / "manifest.json").exists()
    with writer_lock(out, what="run"), pytest.raises(LockedError, match="in use by another run"):
        build_datastore([demo_sources / "svamp"], out, wait=False)


def test_second_writer_waits_then_adds_its_source(tmp_path: Path, demo_sources: Path) -> None:
    from taskforge._io import writer_lock

    out = tmp_path / "ds"
    build_datastore([demo_sources / "snli_dev"], out, max_rows=10)
    log = tmp_path / "second.log"
    with writer_lock(out, what="datastore build"), log.open("w") as err:
        proc = subprocess.Popen(
            build_cmd(demo_sources / "svamp", out, "--max-rows", "10"),
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        deadline = time.monotonic() + 120
        while "waiting for it to finish" not in " ".join(log.read_text().split()):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the second build never said it was waiting"
            time.sleep(0.1)
        time.sleep(1.0)
        assert proc.poll() is None  # still waiting: it wrote nothing while the lock was held
        assert [s.name for s in Datastore.open(out).sources] == ["snli_dev"]
    assert proc.wait(timeout=300) == 0, log.read_text()
    assert "finished" in log.read_text()
    assert [s.name for s in Datastore.open(out).sources] == ["snli_dev", "svamp"]


def test_an_open_store_keeps_reading_while_a_build_replaces_it(tmp_path: Path, demo_sources: Path) -> None:
    out = tmp_path / "ds"
    build_datastore([demo_sources / "snli_dev"], out, max_rows=20)
    ds = Datastore.open(out)
    vectors = np.array(ds.vectors())
    first = ds.get_rows([0])[0]

    build_datastore([demo_sources / "svamp"], out, max_rows=10)
    assert not (out / ds.manifest["data"]).exists()  # the build removed the files this handle read

    assert [s.name for s in ds.sources] == ["snli_dev"]  # the last complete store it opened
    np.testing.assert_array_equal(np.asarray(ds.vectors()), vectors)
    assert ds.get_rows([0])[0] == first and len(ds.get_rows(np.arange(20))) == 20
    assert search(ds, "a man is outside", 3)
    assert [s.name for s in Datastore.open(out).sources] == ["snli_dev", "svamp"]


def test_open_racing_a_commit_reads_the_newer_manifest(
    tmp_path: Path, demo_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "ds"
    build_datastore([demo_sources / "snli_dev"], out, max_rows=10)
    stale = store_module.load_manifest(out)
    build_datastore([demo_sources / "svamp"], out, max_rows=10)  # commits, deletes stale's files
    reads = []

    def manifest_as_it_was_then_now(path: Path) -> dict:
        reads.append(path)
        return stale if len(reads) == 1 else real(path)

    real = store_module.load_manifest
    monkeypatch.setattr(store_module, "load_manifest", manifest_as_it_was_then_now)
    ds = Datastore.open(out)
    assert len(reads) >= 2 and [s.name for s in ds.sources] == ["snli_dev", "svamp"]


def test_readers_never_fail_while_builds_commit(tmp_path: Path, demo_sources: Path) -> None:
    out = tmp_path / "ds"
    build_datastore([demo_sources / "snli_dev"], out, max_rows=8)
    failures: list[BaseException] = []
    seen: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                ds = Datastore.open(out)
                assert ds.get_rows([ds.n_rows - 1])[0]["source"] == ds.sources[-1].name
                float(np.asarray(ds.vectors()[-1]).sum())
                seen.add(len(ds.sources))
            except BaseException as e:  # pragma: no cover - what the test looks for
                failures.append(e)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for name in ("svamp", "scitail_test", "boolq"):
            build_datastore([demo_sources / name], out, max_rows=8, chunk_rows=4)
    finally:
        stop.set()
        thread.join()
    assert not failures, failures
    assert len(seen) >= 2
