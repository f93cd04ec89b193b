"""kill -9 in the middle of a real ``python -m taskforge datastore build``, then resume."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from taskforge._datastore import Datastore, build_datastore

CHUNK_ROWS = 4
MAX_ROWS = 48  # 12 chunks of 4 rows


def _done_chunks(out: Path) -> int:
    return len(list((out / "chunks").glob("*/c*/meta.json"))) if (out / "chunks").exists() else 0


def test_killed_build_resumes_without_duplicates_or_gaps(tmp_path: Path, demo_sources: Path) -> None:
    src = demo_sources / "snli_dev"
    out = tmp_path / "killed"
    env = {**os.environ, "TASKFORGE_CHUNK_ROWS": str(CHUNK_ROWS), "TASKFORGE_QUIET": "1"}
    cmd = [sys.executable, "-m", "taskforge", "datastore", "build", str(src), "--out", str(out),
           "--max-rows", str(MAX_ROWS), "--precision", "fp32"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _done_chunks(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.fail(f"build ended before it could be killed: {proc.stderr.read().decode()[-2000:]}")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _done_chunks(out)
    assert 2 <= killed_at < MAX_ROWS // CHUNK_ROWS, "the kill must land mid-build"
    assert not (out / "manifest.json").exists()

    resumed = build_datastore([src], out, max_rows=MAX_ROWS, chunk_rows=CHUNK_ROWS, precision="fp32")
    assert resumed.sources[0]["n_rows"] == MAX_ROWS
    assert not list(out.rglob(".c*.tmp-*"))

    clean_out = tmp_path / "clean"
    build_datastore([src], clean_out, max_rows=MAX_ROWS, chunk_rows=CHUNK_ROWS, precision="fp32")
    a, b = Datastore.open(out), Datastore.open(clean_out)
    assert (a.n_rows, a.n_vectors) == (b.n_rows, b.n_vectors)
    assert np.array_equal(a.vector_row(), b.vector_row())
    assert np.array_equal(a.vector_column(), b.vector_column())
    np.testing.assert_allclose(a.vectors(), b.vectors(), atol=1e-5)
    ids = [r["row_id"] for r in a.get_rows(np.arange(a.n_rows))]
    assert ids == [r["row_id"] for r in b.get_rows(np.arange(b.n_rows))]
    assert len(set(ids)) == MAX_ROWS
