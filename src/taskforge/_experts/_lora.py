"""LoRA / QLoRA supervised fine-tuning of a causal LM with peft + trl (CRAFT and ReBase presets).

The data is trl's conversational prompt/completion format (user turn = instruction + input,
assistant turn = reasoning + answer), rendered with the base model's own chat template, and
the loss is on the completion only. Everything that can be checked before loading a library
(trl/peft installed, GPU present, bitsandbytes for QLoRA, base weights available offline) is
checked up front by :func:`check_lora_ready`, so the user gets one clear :class:`ExpertError`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from taskforge._console import console
from taskforge._experts._cpu import TrainResult, load_samples
from taskforge._experts._data import FieldValue, chat_messages, completion_text
from taskforge._experts._errors import ExpertError
from taskforge._io import atomic_write_json
from taskforge._task import Task

LORA_KIND = "lora"
Method = Literal["lora", "qlora"]
# Used only when the base model's tokenizer has no chat template (plain base models).
FALLBACK_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}### Instruction:\n{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% else %}### Response:\n{{ m['content'] }}{{ eos_token }}\n\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}### Response:\n{% endif %}"
)


@dataclass(frozen=True)
class Preset:
    """Hyper-parameters of one paper's fine-tuning recipe (see shared METHODS.md)."""

    method: Method
    r: int
    alpha: int
    dropout: float
    lr: float
    epochs: float
    batch_size: int
    grad_accum: int
    warmup_steps: int
    weight_decay: float
    scheduler: str
    target_modules: str | tuple[str, ...] = "all-linear"


PRESETS: dict[str, Preset] = {
    # CRAFT: LoRA r=64, alpha=64, dropout 0.1 on all projection matrices, lr 1e-4, 3 epochs, bf16.
    "craft": Preset("lora", 64, 64, 0.1, 1e-4, 3, 4, 4, 20, 0.0, "linear"),
    # ReBase (appendix D): QLoRA r=8, alpha=16, lr 3e-4, 1 epoch, batch 2 x accumulation 4,
    # 20 warm-up steps, weight decay 0.001, linear schedule (dropout not given: QLoRA's 0.05).
    "rebase": Preset("qlora", 8, 16, 0.05, 3e-4, 1, 2, 4, 20, 0.001, "linear"),
}


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _weights_in(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")) or any(folder.glob("*.pt"))


def resolve_base_model(name_or_path: str) -> str:
    """A local folder with config + weights for ``name_or_path``, or a clear :class:`ExpertError`.

    A hub id is looked up in the local Hugging Face cache first; only when that misses and the
    hub is not switched off (``HF_HUB_OFFLINE``) is the hub asked whether the model exists.
    """
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ExpertError(f"base model {path}: no config.json (not a transformers model folder)")
        if not _weights_in(path):
            raise ExpertError(f"base model {path}: no weights (*.safetensors / *.bin) in the folder")
        return str(path)
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise ExpertError(f"base model {name_or_path}: no such folder")
    from huggingface_hub import snapshot_download

    try:
        local = Path(snapshot_download(name_or_path, local_files_only=True))
        if (local / "config.json").exists() and _weights_in(local):
            return str(local)
    except Exception:
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    hint = (
        f"download it first (`huggingface-cli download {name_or_path}`) or pass a local folder "
        "with --base-model PATH"
    )
    if offline:
        raise ExpertError(
            f"base model {name_or_path!r}: not in the local Hugging Face cache and "
            f"HF_HUB_OFFLINE is set; {hint}"
        )
    try:
        from huggingface_hub import model_info

        model_info(name_or_path, timeout=15)
    except Exception as e:
        raise ExpertError(
            f"base model {name_or_path!r}: not in the local cache and the hub cannot be reached or "
            f"does not have it ({type(e).__name__}: {str(e).splitlines()[0][:200]}); {hint}"
        ) from None
    return name_or_path


def check_lora_ready(
    base_model: str, *, method: Method = "lora", device: str | None = None
) -> tuple[str, str]:
    """Check everything LoRA training needs before starting; returns (model path or id, device)."""
    missing = [m for m in ("peft", "trl", "accelerate") if not _has(m)]
    if missing:
        raise ExpertError(f"LoRA training needs {', '.join(missing)}: pip install 'taskforge[train]'")
    import torch

    has_cuda = torch.cuda.is_available()
    if device in (None, "auto"):
        if not has_cuda:
            raise ExpertError(
                "no CUDA GPU found: LoRA fine-tuning of a real base model needs a GPU "
                "(pass --device cpu only for tiny test models; for a CPU expert use --expert cpu)"
            )
        device = "cuda"
    if device.startswith("cuda") and not has_cuda:
        raise ExpertError(f"--device {device}: no CUDA GPU is available on this machine")
    if method == "qlora":
        if not device.startswith("cuda"):
            raise ExpertError(
                "QLoRA (4-bit bitsandbytes) needs a CUDA GPU; use --method lora --device cpu "
                "for a tiny model on CPU"
            )
        if not _has("bitsandbytes"):
            raise ExpertError("QLoRA needs bitsandbytes (not installed): pip install bitsandbytes")
    elif method != "lora":
        raise ExpertError(f"unknown method {method!r} (lora or qlora)")
    return resolve_base_model(base_model), device


def _checkpointing_kwargs(enabled: bool) -> dict[str, bool]:
    """Activation checkpointing flag under its current name (transformers 5 renamed it); unset when off."""
    if not enabled:
        return {}
    import dataclasses

    from trl import SFTConfig

    names = {f.name for f in dataclasses.fields(SFTConfig)}
    return {
        "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": True
    }


def to_prompt_completion(task: Task, samples: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """trl's conversational prompt/completion records (loss on the completion only)."""
    return [
        {
            "prompt": chat_messages(task, s["input"]),
            "completion": [{"role": "assistant", "content": completion_text(task, s)}],
        }
        for s in samples
    ]


def train_lora(
    task: Task,
    dataset: str | Path | Sequence[dict[str, Any]],
    out_dir: str | Path,
    *,
    base_model: str,
    method: Method | None = None,
    preset: str = "craft",
    device: str | None = None,
    epochs: float | None = None,
    lr: float | None = None,
    r: int | None = None,
    alpha: int | None = None,
    dropout: float | None = None,
    batch_size: int | None = None,
    grad_accum: int | None = None,
    target_modules: str | Sequence[str] | None = None,
    max_length: int = 1024,
    max_steps: int = -1,
    completion_only_loss: bool = True,
    gradient_checkpointing: bool | None = None,
    seed: int = 0,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Fine-tune a LoRA adapter of ``base_model`` on the samples; saves ``OUT/adapter`` + ``OUT/expert.json``.

    ``preset`` fills every hyper-parameter (CRAFT: LoRA r=64/alpha=64/dropout 0.1, lr 1e-4, 3 epochs;
    ReBase: QLoRA r=8/alpha=16, lr 3e-4, 1 epoch); explicit arguments override it. ``method``
    defaults to the preset's. ``device``: None = the GPU (an error without one), "cpu" for tiny models.
    A checkpoint is kept after every epoch (``OUT/checkpoints``), so a run interrupted in epoch k
    resumes there when called again with the same settings and data. ``callbacks``: transformers
    ``TrainerCallback``s.
    """
    if preset not in PRESETS:
        raise ExpertError(f"unknown preset {preset!r} (one of {sorted(PRESETS)})")
    p = PRESETS[preset]
    method = method or p.method
    model_path, device = check_lora_ready(base_model, method=method, device=device)
    samples = load_samples(dataset)
    if not samples:
        raise ExpertError("no training samples")

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    hf_logging.set_verbosity_error()
    on_gpu = device.startswith("cuda")
    bf16 = on_gpu and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    template_source = "base"
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
        template_source = "fallback"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    load_kwargs: dict[str, Any] = {
        "dtype": torch.bfloat16 if bf16 else (torch.float16 if on_gpu else torch.float32)
    }
    if method == "qlora":
        from transformers import BitsAndBytesConfig

        load_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if bf16 else torch.float16,
        )
        load_kwargs["device_map"] = {"": torch.cuda.current_device()}
    try:
        model = AutoModelForCausalLM.from_pretrained(model_path, **load_kwargs)
    except (OSError, ValueError) as e:
        raise ExpertError(f"cannot load base model {base_model!r}: {str(e).splitlines()[0][:300]}") from None
    if method == "lora":
        model.to(device)

    targets = target_modules or p.target_modules
    lora = {
        "r": r or p.r,
        "lora_alpha": alpha or p.alpha,
        "lora_dropout": p.dropout if dropout is None else dropout,
        "target_modules": targets if isinstance(targets, str) else list(targets),
    }
    peft_config = LoraConfig(task_type="CAUSAL_LM", bias="none", **lora)
    out = Path(out_dir)
    n_epochs = p.epochs if epochs is None else epochs
    bs, ga = batch_size or p.batch_size, grad_accum or p.grad_accum
    steps = max_steps if max_steps > 0 else math.ceil(len(samples) / (bs * ga)) * n_epochs
    resume = _resume_point(
        out / "checkpoints",
        {
            "base_model": model_path,
            "method": method,
            "lora": lora,
            "epochs": n_epochs,
            "max_steps": max_steps,
            "lr": lr or p.lr,
            "batch_size": bs,
            "grad_accum": ga,
            "max_length": max_length,
            "completion_only_loss": completion_only_loss,
            "seed": seed,
            "data_sha256": hashlib.sha256(
                json.dumps(samples, sort_keys=True, default=str).encode()
            ).hexdigest(),
        },
    )
    args = SFTConfig(
        output_dir=str(out / "checkpoints"),
        num_train_epochs=n_epochs,
        max_steps=max_steps,
        learning_rate=lr or p.lr,
        per_device_train_batch_size=bs,
        gradient_accumulation_steps=ga,
        warmup_steps=min(p.warmup_steps, max(0, int(steps) // 10)),
        weight_decay=p.weight_decay,
        lr_scheduler_type=p.scheduler,
        optim="paged_adamw_8bit" if method == "qlora" else "adamw_torch",
        bf16=bf16,
        fp16=on_gpu and not bf16,
        max_length=max_length,
        completion_only_loss=completion_only_loss,
        **_checkpointing_kwargs(on_gpu if gradient_checkpointing is None else gradient_checkpointing),
        logging_steps=1 if steps <= 50 else 10,
        save_strategy="epoch",  # an interrupted run resumes from its last finished epoch
        save_total_limit=1,
        report_to="none",
        seed=seed,
        use_cpu=not on_gpu,
        dataloader_num_workers=0,
        disable_tqdm=os.environ.get("TASKFORGE_QUIET") == "1",
    )
    data = Dataset.from_list(to_prompt_completion(task, samples))
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=list(callbacks),
    )
    if resume:
        console.print(f"resuming from {resume} (the last epoch an interrupted run finished)")
    t0 = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume)
    seconds = time.perf_counter() - t0
    losses = [float(h["loss"]) for h in trainer.state.log_history if "loss" in h]
    if not losses or not all(math.isfinite(x) for x in losses):
        raise ExpertError(f"training produced no finite loss ({losses[-3:]}); try a lower --lr")

    adapter = out / "adapter"
    trainer.model.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # the adapter is saved: the resume points go
    info = {
        "kind": LORA_KIND,
        "task": task.name,
        "base_model": base_model,
        "base_model_path": model_path,
        "method": method,
        "preset": preset,
        "lora": lora,
        "training": {
            "epochs": n_epochs,
            "max_steps": max_steps,
            "lr": lr or p.lr,
            "batch_size": bs,
            "grad_accum": ga,
            "warmup_steps": args.warmup_steps,
            "weight_decay": p.weight_decay,
            "scheduler": p.scheduler,
            "optimizer": args.optim,
            "max_length": max_length,
            "completion_only_loss": completion_only_loss,
            "bf16": bf16,
            "device": device,
            "seed": seed,
        },
        "chat_template": template_source,
        "train": {
            "n_samples": len(samples),
            "steps": trainer.state.global_step,
            "resumed_from_step": _step_of(resume),
            "losses": losses,
            "seconds": round(seconds, 2),
        },
        "preset_defaults": asdict(p),
    }
    atomic_write_json(out / "expert.json", info)
    console.print(
        f"[green]LoRA adapter[/] {len(samples):,} samples, {trainer.state.global_step} steps "
        f"in {seconds:.0f}s, final loss {losses[-1]:.3f} -> {adapter}"
    )
    return TrainResult(
        out_dir=out, kind=LORA_KIND, n_samples=len(samples), seconds=seconds, losses=losses, info=info
    )


class LoraExpert:
    """A trained adapter on its base model: greedy generation of the assistant turn."""

    kind = LORA_KIND

    def __init__(
        self, path: str | Path, *, device: str | None = None, max_new_tokens: int = 256, batch_size: int = 8
    ) -> None:
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = Path(path)
        self.info = json.loads((self.path / "expert.json").read_text(encoding="utf-8"))
        self.task_name = self.info.get("task")
        want = device or self.info["training"].get("device") or "cpu"
        if want.startswith("cuda") and not torch.cuda.is_available():
            raise ExpertError(
                f"{path}: trained on {want} but no CUDA GPU is available here; pass device='cpu'"
            )
        base = resolve_base_model(
            self.info["base_model_path"]
            if Path(self.info["base_model_path"]).exists()
            else self.info["base_model"]
        )
        self.device = want
        self.tokenizer = AutoTokenizer.from_pretrained(self.path / "adapter")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = (
            torch.bfloat16 if want.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
        )
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
        self.model = PeftModel.from_pretrained(model, self.path / "adapter").to(want).eval()
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self._task: Task | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def bind(self, task: Task) -> LoraExpert:
        """Set the task whose prompt format to use (``evaluate`` does this)."""
        self._task = task
        return self

    def predict(self, inputs: Sequence[FieldValue]) -> list[str]:
        import torch

        if self._task is None:
            raise ExpertError("LoraExpert.predict needs the task: call .bind(task) first")
        prompts = [
            self.tokenizer.apply_chat_template(
                chat_messages(self._task, v), tokenize=False, add_generation_prompt=True
            )
            for v in inputs
        ]
        outs: list[str] = []
        for k in range(0, len(prompts), self.batch_size):
            enc = self.tokenizer(
                prompts[k : k + self.batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.device)
            with torch.inference_mode():
                gen = self.model.generate(
                    **enc,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = gen[:, enc["input_ids"].shape[1] :]
            outs += [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
        return outs


def _resume_point(checkpoints: Path, run: dict[str, Any]) -> str | None:
    """The last per-epoch checkpoint an interrupted run with the same settings and data left, else None.

    Checkpoints of other settings or data are removed: resuming from them would train a mix.
    """
    from transformers.trainer_utils import get_last_checkpoint

    stamp = checkpoints / "run.json"
    if checkpoints.is_dir():
        try:
            same = json.loads(stamp.read_text(encoding="utf-8")) == json.loads(json.dumps(run))
        except (OSError, ValueError):
            same = False
        if same:
            return get_last_checkpoint(str(checkpoints))
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True)
    atomic_write_json(stamp, run)
    return None


def _step_of(checkpoint: str | None) -> int:
    return int(checkpoint.rsplit("-", 1)[1]) if checkpoint else 0
