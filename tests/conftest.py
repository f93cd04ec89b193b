"""Shared fixtures: quiet output, paths to demo and shared data, and one demo datastore per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["TASKFORGE_QUIET"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
DEMO_SOURCES = REPO / "demo" / "sources"
SHARED = Path(__file__).resolve().parents[2] / "shared"
SHARED_SOURCES = SHARED / "datastore-sources"
DEMO_MAX_ROWS = 30


@pytest.fixture(scope="session")
def demo_sources() -> Path:
    return DEMO_SOURCES


@pytest.fixture(scope="session")
def shared_sources() -> Path:
    """../shared/datastore-sources; tests using it are marked ``shared`` and skip when it is absent."""
    if not SHARED_SOURCES.is_dir():
        pytest.skip(f"{SHARED_SOURCES} not present")
    return SHARED_SOURCES


@pytest.fixture(scope="session")
def demo_datastore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rows datastore of every demo source (first 30 rows each), built once per session; its path."""
    from taskforge._datastore import build_datastore

    out = tmp_path_factory.mktemp("demo_datastore") / "ds"
    build_datastore(sorted(p for p in DEMO_SOURCES.iterdir() if p.is_dir()), out, max_rows=DEMO_MAX_ROWS)
    return out
