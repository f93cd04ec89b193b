"""The LLM cache holds prompts and answers (possibly private data): owner-only files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from taskforge._llm import LLM, LLMRequest
from taskforge.testing import FakeLLMServer


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_cache_and_its_sqlite_side_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask would make new files world-readable
    try:
        cache = tmp_path / "run" / "llm_cache.sqlite"
        with FakeLLMServer() as server:
            llm = LLM.from_spec("openai:fake", base_url=server.openai_url, cache_path=cache)
            reqs = [
                LLMRequest(key=str(i), messages=[{"role": "user", "content": f"secret {i}"}])
                for i in range(3)
            ]
            assert all(r.ok for r in llm.run(reqs))
            side = [cache.with_name(cache.name + s) for s in ("-wal", "-shm")]
            assert all(p.exists() for p in side)  # WAL mode: both exist while the cache is open
            assert {p.name: mode(p) for p in [cache, *side]} == {p.name: 0o600 for p in [cache, *side]}
            llm.close()
        assert mode(cache) == 0o600
    finally:
        os.umask(old)


def test_an_older_world_readable_cache_is_tightened(tmp_path: Path) -> None:
    cache = tmp_path / "llm_cache.sqlite"
    cache.touch(mode=0o644)
    os.chmod(cache, 0o644)
    with FakeLLMServer() as server:
        llm = LLM.from_spec("openai:fake", base_url=server.openai_url, cache_path=cache)
        assert llm.complete([{"role": "user", "content": "hi"}]).ok
        llm.close()
    assert mode(cache) == 0o600
