"""ONNX Runtime backend of the embedder: the sentence-transformers model, exported once, int8.

The model's transformer and its pooling are exported to ONNX with ``torch.onnx`` (the
TorchScript exporter: no extra packages), then its weights are quantised to int8 with
ONNX Runtime's dynamic quantisation (activations are quantised per batch at run time, so a
text's vector depends slightly on its batch: cosine >= ~0.96 between batch and alone). On a
CPU with AVX-512 VNNI MEASURED.md has it ~2.3x faster than torch fp32 and ~1.3x faster than
bf16; ``benchmarks/embed_throughput.py`` measures it against both in one run, with its cosine
agreement with fp32 (mean ~0.99).

The export is cached beside the model (``<model>/onnx/``) when that folder is writable, else
under ``$TASKFORGE_CACHE_DIR`` (default ``~/.cache/taskforge``)/onnx/<model fingerprint>/; it is
written under a file lock and renamed into place, so concurrent builds export once.
Tokenising uses the model's own fast tokenizer (``tokenizer.json``), as sentence-transformers does.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from taskforge._errors import SettingsError

EXPORT_VERSION = 1  # bump when the exported graph changes, so caches are re-made
_POOLING = {
    "mean": "pooling_mode_mean_tokens",
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
}


def onnx_available() -> bool:
    """True when onnxruntime and onnx are installed (the ``taskforge[onnx]`` extra)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def model_layout(model_dir: Path) -> dict[str, Any]:
    """What the export needs from a sentence-transformers folder: pooling, max length, normalise.

    Raises :class:`SettingsError` for models the ONNX path does not cover (extra Dense layers,
    unusual pooling, no fast tokenizer): those keep ``--backend torch``.
    """
    modules_file = model_dir / "modules.json"
    modules = json.loads(modules_file.read_text(encoding="utf-8")) if modules_file.exists() else []
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise SettingsError(
            f"{model_dir}: modules {kinds} are not Transformer + Pooling (+ Normalize); "
            "the onnx backend cannot export this model, use --backend torch"
        )
    pool_cfg = json.loads((model_dir / modules[1]["path"] / "config.json").read_text(encoding="utf-8"))
    on = [k for k, v in pool_cfg.items() if k.startswith("pooling_mode") and v]
    modes = [m for m, key in _POOLING.items() if on == [key]]
    if not modes:
        raise SettingsError(f"{model_dir}: pooling {on} is not one of {list(_POOLING)}; use --backend torch")
    if not (model_dir / "tokenizer.json").exists():
        raise SettingsError(f"{model_dir}: no tokenizer.json (fast tokenizer); use --backend torch")
    st_cfg_file = model_dir / "sentence_bert_config.json"
    st_cfg = json.loads(st_cfg_file.read_text(encoding="utf-8")) if st_cfg_file.exists() else {}
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    max_len = min(int(st_cfg.get("max_seq_length") or 512), int(config.get("max_position_embeddings", 512)))
    return {"pooling": modes[0], "max_seq_length": max_len, "dim": int(pool_cfg["word_embedding_dimension"])}


def _fingerprint(model_dir: Path) -> dict[str, Any]:
    """Weights' names, sizes and times: a changed model re-exports."""
    files = sorted(p for p in model_dir.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    return {
        "export_version": EXPORT_VERSION,
        "weights": [[p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in files],
    }


def cache_dir(model_dir: Path) -> Path:
    """Where the export of ``model_dir`` lives: beside the model when writable, else the user cache."""
    beside = model_dir / "onnx"
    if os.access(beside if beside.exists() else model_dir, os.W_OK):
        return beside
    from taskforge._io import stable_hash

    root = Path(os.environ.get("TASKFORGE_CACHE_DIR") or Path.home() / ".cache" / "taskforge")
    return root / "onnx" / stable_hash(str(model_dir.resolve()), length=16)


def exported_model(model_dir: Path, *, quantized: bool = True) -> Path:
    """The cached ONNX file for ``model_dir`` (int8 or fp32), exporting it first if needed."""
    layout = model_layout(model_dir)
    where = cache_dir(model_dir)
    name = "model_int8.onnx" if quantized else "model.onnx"
    stamp = {**_fingerprint(model_dir), **layout}
    if _fresh(where, name, stamp):
        return where / name
    from filelock import FileLock

    where.mkdir(parents=True, exist_ok=True)
    with FileLock(str(where / ".export.lock")):
        if not _fresh(where, name, stamp):  # another process may have exported while we waited
            _export(model_dir, where, layout)
            (where / "export.json").write_text(json.dumps(stamp), encoding="utf-8")
    return where / name


def _fresh(where: Path, name: str, stamp: dict[str, Any]) -> bool:
    try:
        return (where / name).exists() and json.loads((where / "export.json").read_text()) == stamp
    except (OSError, ValueError):
        return False


def _export(model_dir: Path, where: Path, layout: dict[str, Any]) -> None:
    """fp32 export with pooling in the graph, then dynamic int8 quantisation; both renamed into place."""
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    from taskforge._console import console

    t0 = time.perf_counter()
    console.print(f"[dim]exporting {model_dir.name} to ONNX int8 (once; cached in {where})[/]")
    model = AutoModel.from_pretrained(str(model_dir), trust_remote_code=False).eval()
    wrapped = _pooled(model, layout["pooling"]).eval()
    ids = torch.ones(2, 8, dtype=torch.long)
    tmp_fp32, tmp_int8 = (
        where / f".model.onnx.tmp-{os.getpid()}",
        where / f".model_int8.onnx.tmp-{os.getpid()}",
    )
    inputs = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (ids, ids, torch.zeros_like(ids)),
            str(tmp_fp32),
            dynamo=False,
            input_names=inputs,
            output_names=["embedding"],
            dynamic_axes={**{k: {0: "batch", 1: "seq"} for k in inputs}, "embedding": {0: "batch"}},
            opset_version=17,
        )
    # per-channel weight scales: closer to fp32 (cosine) at the same speed (measured)
    with _quiet_root_logger():
        quantize_dynamic(str(tmp_fp32), str(tmp_int8), weight_type=QuantType.QInt8, per_channel=True)
    os.replace(tmp_fp32, where / "model.onnx")
    os.replace(tmp_int8, where / "model_int8.onnx")
    console.print(f"[dim]ONNX export done in {time.perf_counter() - t0:.0f} s[/]")


@contextlib.contextmanager
def _quiet_root_logger() -> Any:
    """onnxruntime's quantiser logs a pre-processing hint on the root logger; not for users."""
    import logging

    root = logging.getLogger()
    old = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(old)


def _pooled(model: Any, pooling: str) -> Any:
    """Transformer + pooling as one torch module (defined here: torch is imported only to export)."""
    import torch

    class Pooled(torch.nn.Module):
        """Transformer + pooling as one graph, so the ONNX session returns sentence vectors."""

        def __init__(self, model: Any, pooling: str) -> None:
            super().__init__()
            self.model, self.pooling = model, pooling

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            if self.pooling == "cls":
                return h[:, 0]
            w = attention_mask.unsqueeze(-1).to(h.dtype)
            if self.pooling == "max":
                return (h + (w - 1.0) * 1e9).max(dim=1).values
            return (h * w).sum(1) / w.sum(1).clamp(min=1e-9)

    return Pooled(model, pooling)


class OnnxModel:
    """An exported model in an ONNX Runtime session, shaped like a SentenceTransformer for
    :class:`~taskforge._embed.Embedder`: ``encode``, ``max_seq_length``, the dimension."""

    def __init__(self, model_dir: Path, onnx_file: Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        layout = model_layout(model_dir)
        self.max_seq_length = layout["max_seq_length"]
        self._dim = layout["dim"]
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.inter_op_num_threads = 1
        if threads:
            opts.intra_op_num_threads = threads
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_file), opts, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.session.get_inputs()}

    def get_sentence_embedding_dimension(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str], batch_size: int = 64, **_: Any) -> np.ndarray:
        """(n, dim) float32 sentence vectors (not normalised), in input order.

        Batches are cut from the texts sorted by length, as sentence-transformers does: a batch
        pads to its longest text, so mixed lengths would pay for padding.
        """
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            encs = self.tokenizer.encode_batch([texts[i] for i in idx])
            width = max(len(e.ids) for e in encs)
            ids = np.zeros((len(encs), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for i, e in enumerate(encs):
                ids[i, : len(e.ids)] = e.ids
                mask[i, : len(e.ids)] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[idx] = self.session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        return out


__all__ = ["OnnxModel", "cache_dir", "exported_model", "model_layout", "onnx_available"]
