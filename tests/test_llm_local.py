"""A real model, offline: the ``local`` backend starts llama.cpp's server on a small GGUF model and
the same client, cache and limits drive it. Marked ``llm`` (``pytest -m llm``); skipped without a
runtime or a model (``python scripts/setup_local_llm.py all``, or ``TASKFORGE_LLAMA_SERVER`` /
``TASKFORGE_LOCAL_MODEL``)."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskforge._llm import LLM, GenerationOptions
from taskforge._llm._local import MODELS, LocalOptions, find_model, find_runtime
from taskforge._task import Task
from taskforge._transform import transform
from taskforge.testing import demo_items

pytestmark = pytest.mark.llm
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO = Path(__file__).resolve().parents[1] / "demo" / "sources"


def _model() -> str | None:
    env = os.environ.get("TASKFORGE_LOCAL_MODEL")
    if env:
        return env if find_model(env) else None
    return next((name for name in ("qwen0.5b", "smollm2-135m") if find_model(name)), None)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local")


@pytest.fixture(scope="module")
def llm(cache_dir: Path) -> Iterator[LLM]:
    if find_runtime() is None:
        pytest.skip("no llama.cpp runtime (scripts/setup_local_llm.py runtime, or TASKFORGE_LLAMA_SERVER)")
    model = _model()
    if model is None:
        pytest.skip(f"no local model (scripts/setup_local_llm.py model; one of {sorted(MODELS)})")
    client = LLM.from_spec(
        f"local:{model}",
        cache_path=cache_dir / "llm_cache.sqlite",
        local=LocalOptions(slots=2, threads=1, ctx_per_slot=4096),
        timeout=600,
        max_in_flight=32,
        prices=(0.1, 0.4),
    )
    yield client
    client.close()


def test_chat_template_usage_and_cost(llm: LLM) -> None:
    assert llm.max_in_flight == 2 and llm.spec.startswith("local:")  # in flight = the server's slots
    res = llm.complete(
        [
            {"role": "system", "content": "You answer with one word."},
            {"role": "user", "content": "What colour is the sky on a clear day?"},
        ],
        GenerationOptions(temperature=0.0, max_tokens=8),
    )
    assert res.ok and res.text and res.text.strip()
    assert "<|im_start|>" not in res.text  # the chat template was applied by the server, not echoed
    assert res.usage["input_tokens"] > 10 and 0 < res.usage["output_tokens"] <= 8
    expected = (res.usage["input_tokens"] * 0.1 + res.usage["output_tokens"] * 0.4) / 1e6
    assert llm.stats.cost == pytest.approx(expected)


def test_transform_with_a_json_schema_then_resume_from_the_cache(llm: LLM, tmp_path: Path) -> None:
    task = Task.load(EXAMPLES / "nli.yaml")
    items = demo_items(DEMO, "snli_dev", 4)
    before = llm.stats.calls
    res = transform(task, items, tmp_path / "s.jsonl", llm=llm, progress=False)
    samples = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert res.samples == 4, res.rejects_by_reason  # constrained decoding: every answer is valid JSON
    for s in samples:
        assert set(s["input"]) == {"premise", "hypothesis"} and s["output"]["label"] in task.labels()
        assert s["provenance"]["model"] == llm.spec
    assert llm.stats.calls - before == 4  # no repairs, no retries
    again = transform(task, items, tmp_path / "s2.jsonl", llm=llm, progress=False)
    assert again.samples == 4 and again.llm_stats["calls"] == 0 and again.llm_stats["cache_hits"] == 4


def test_close_stops_the_server(cache_dir: Path) -> None:
    if find_runtime() is None or _model() is None:
        pytest.skip("no runtime or model")
    client = LLM.from_spec(
        f"local:{_model()}", cache_path=None, local=LocalOptions(slots=1, ctx_per_slot=512)
    )
    url = client.base_urls[0].removesuffix("/v1") + "/health"
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200
    client.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)
