"""The shared embedder: the real bundled MiniLM, offline, cached, unit float32 vectors."""

from __future__ import annotations

import numpy as np
import pytest

from taskforge._embed import DEFAULT_MODEL, Embedder, ModelMismatchError


@pytest.fixture(scope="module")
def emb() -> Embedder:
    return Embedder.load()


def test_default_model_loads_offline_and_is_cached(emb: Embedder) -> None:
    assert emb.name == DEFAULT_MODEL and emb.dim == 384
    assert Embedder.load(None) is emb
    assert Embedder.load("sentence-transformers/all-MiniLM-L6-v2") is emb


def test_encode_unit_float32_in_input_order(emb: Embedder) -> None:
    texts = ["a much longer sentence about cats sitting on warm mats in the sun", "dog", "the cat sat"]
    vecs = emb.encode(texts)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    one_by_one = np.vstack([emb.encode([t]) for t in texts])
    assert np.allclose((vecs * one_by_one).sum(1), 1.0, atol=2e-3)
    sims = vecs @ vecs.T
    assert sims[0, 2] > sims[0, 1]  # cat sentences closer to each other than to "dog"
    assert emb.encode([]).shape == (0, 384)


def test_fp32_and_bf16_agree() -> None:
    texts = ["Does the premise entail the hypothesis?", "A man plays a guitar on stage."]
    a = Embedder.load(precision="fp32").encode(texts)
    b = Embedder.load(precision="bf16").encode(texts)
    assert (a * b).sum(1).min() > 0.99


def test_check_same_raises_on_other_model(emb: Embedder) -> None:
    emb.check_same(DEFAULT_MODEL, 384)
    with pytest.raises(ModelMismatchError, match="does not match"):
        emb.check_same("sentence-transformers/all-mpnet-base-v2", 768)
    with pytest.raises(ValueError, match="precision"):
        Embedder.load(precision="int4")
