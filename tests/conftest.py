"""Shared fixtures: quiet output, paths to demo and shared data, one demo datastore per session, and
runs of the CLI as real processes through a fake LLM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from taskforge import Task
    from taskforge.testing import FakeLLMServer, MemoryStore

os.environ["TASKFORGE_QUIET"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
DEMO_SOURCES = REPO / "demo" / "sources"
NLI = REPO / "examples" / "nli.yaml"
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


class FakeLLMRuns:
    """``taskforge run`` of examples/nli.yaml on a datastore through a fake LLM at ``url``, as real
    processes (``python -m taskforge``): what a shell does to a run, kills and Ctrl-C included."""

    def __init__(self, datastore: Path) -> None:
        self.datastore = datastore
        self.env = {**os.environ, "TASKFORGE_QUIET": "1", "COLUMNS": "200"}  # wide: tables on one line

    def args(
        self, out: Path, url: str, *, n: int, max_in_flight: int = 2, extra: Sequence[str] = ()
    ) -> list[str]:
        return [
            sys.executable,
            "-m",
            "taskforge",
            "run",
            str(NLI),
            "--datastore",
            str(self.datastore),
            "--out",
            str(out),
            "-n",
            str(n),
            "--llm",
            "openai:fake",
            "--base-url",
            url,
            "--max-in-flight",
            str(max_in_flight),
            "--no-report",
            *extra,
        ]

    def start(self, out: Path, url: str, **kwargs: Any) -> subprocess.Popen[str]:
        """The run in the background: stdout dropped, stderr kept (``communicate()`` reads it).

        SIGINT is reset to its default in the child: pytest started in the background by a shell
        without job control (``.ci/run &``) inherits SIGINT *ignored*, and Python then installs no
        KeyboardInterrupt handler, so a test's Ctrl-C would never arrive.
        """
        return subprocess.Popen(
            self.args(out, url, **kwargs),
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,
        )

    def run(self, out: Path, url: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """The run to its end (ten minutes at most), its output captured."""
        return subprocess.run(
            self.args(out, url, **kwargs), env=self.env, capture_output=True, text=True, timeout=600
        )

    @staticmethod
    def wait_for_answers(
        proc: subprocess.Popen[str], server: FakeLLMServer, count: int, timeout: float = 300
    ) -> None:
        """Return once ``server`` has answered ``count`` requests; fail the test (the run killed, its
        stderr shown) when the run ends or stalls first."""
        deadline = time.monotonic() + timeout
        while server.completed_count < count:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                stderr = proc.communicate()[1] or ""
                pytest.fail(f"the run ended or stalled before {count} LLM answers: {stderr[-2000:]}")
            time.sleep(0.02)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def fake_llm_runs(demo_datastore: Path) -> FakeLLMRuns:
    """Runs of the NLI example on the demo datastore as real processes (see :class:`FakeLLMRuns`)."""
    return FakeLLMRuns(demo_datastore)


TOPICS = [
    "planet moon orbit star",
    "recipe boil egg oven",
    "football goal match team",
    "court law judge trial",
]


@pytest.fixture
def topic_store() -> MemoryStore:
    """An in-memory store of four topic sources (150 two-column rows each, hashed vectors)."""
    import numpy as np

    from taskforge.testing import HashEmbedder, MemoryStore

    rng = np.random.default_rng(0)
    words = " ".join(TOPICS).split()
    sources = []
    for s, topic in enumerate(TOPICS):
        rows = [
            {
                "q": f"{topic.split()[k % 4]} " + " ".join(rng.choice(words, 4)),
                "a": " ".join(rng.choice(words, 3)),
            }
            for k in range(150)
        ]
        sources.append((f"src{s}", f"questions about {topic}", rows))
    return MemoryStore(sources, HashEmbedder(64))


@pytest.fixture
def topic_task() -> Task:
    """A task about the first topic of :func:`topic_store`, excluding its last source."""
    from taskforge import Task

    return Task.from_dict(
        {
            "name": "t",
            "instruction": "questions about planet orbit",
            "examples": [
                {"input": "which planet has a moon", "output": "orbit star"},
                {"input": "moon orbit of a planet", "output": "star planet"},
            ],
            "exclude_sources": ["src3"],
        }
    )
