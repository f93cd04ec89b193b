"""LoRA training through the real peft + trl code path, on a tiny random model on CPU."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from taskforge import Task
from taskforge._experts import PRESETS, LoraExpert, evaluate, train_lora
from taskforge._experts._lora import to_prompt_completion
from taskforge.testing import make_tiny_causal_lm

os.environ["TASKFORGE_QUIET"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
MATH = Task.load(ROOT / "examples" / "math.yaml")
SAMPLES = [{"input": e.input, "output": e.output} for e in MATH.examples] + [
    {"input": "What is 2 plus 3?", "output": "5", "reasoning": "2 + 3 = 5."}
]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)  # the test machine is shared: one thread is faster than two fighting
    texts = [MATH.instruction] + [Task.text_of(s["input"]) + " " + Task.text_of(s["output"]) for s in SAMPLES]
    return make_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "base", texts)


@pytest.fixture(scope="module")
def trained(base: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("lora") / "expert"
    res = train_lora(
        MATH,
        SAMPLES,
        out,
        base_model=str(base),
        device="cpu",
        max_steps=3,
        batch_size=2,
        grad_accum=1,
        r=4,
        alpha=8,
        max_length=128,
    )
    return out, res


def test_training_loss_finite_and_settings_saved(trained: tuple[Path, object]) -> None:
    out, res = trained
    assert res.losses and all(math.isfinite(x) for x in res.losses)
    info = json.loads((out / "expert.json").read_text())
    assert info["kind"] == "lora" and info["method"] == "lora" and info["preset"] == "craft"
    assert info["lora"] == {"r": 4, "lora_alpha": 8, "lora_dropout": 0.1, "target_modules": "all-linear"}
    assert info["training"]["completion_only_loss"] is True and info["training"]["lr"] == 1e-4
    assert info["chat_template"] == "base"
    cfg = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 8
    assert (out / "adapter" / "adapter_model.safetensors").exists()


def test_adapter_is_trained_and_reloadable(trained: tuple[Path, object], tmp_path: Path) -> None:
    from safetensors.torch import load_file

    out, _ = trained
    weights = load_file(out / "adapter" / "adapter_model.safetensors")
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and any(float(v.abs().sum()) > 0 for v in lora_b)  # B starts at zero: it moved
    assert any("q_proj" in k for k in weights) and any("down_proj" in k for k in weights)  # all projections

    expert = LoraExpert(out, max_new_tokens=4, batch_size=4)
    data = tmp_path / "eval.jsonl"
    data.write_text("".join(json.dumps(s) + "\n" for s in SAMPLES))
    res = evaluate(expert, MATH, data)
    assert res.n == 1 and res.n_excluded == 3  # the task's examples are not test items
    assert {"accuracy", "exact_match", "f1", "chrf++", "rouge_l"} <= set(res.metrics)
    assert isinstance(res.predictions[0]["prediction"], str)


def test_prompt_completion_format() -> None:
    (rec,) = to_prompt_completion(MATH, SAMPLES[-1:])
    assert [m["role"] for m in rec["prompt"]] == ["user"]
    assert rec["completion"] == [{"role": "assistant", "content": "2 + 3 = 5.\nThe answer is 5"}]


def test_presets_match_the_papers() -> None:
    craft, rebase = PRESETS["craft"], PRESETS["rebase"]
    assert (craft.method, craft.r, craft.alpha, craft.dropout, craft.lr, craft.epochs) == (
        "lora",
        64,
        64,
        0.1,
        1e-4,
        3,
    )
    assert (rebase.method, rebase.r, rebase.alpha, rebase.lr, rebase.epochs) == ("qlora", 8, 16, 3e-4, 1)
    assert craft.target_modules == "all-linear"


@pytest.mark.slow
def test_cli_train_tiny_model(base: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from taskforge._cli import app

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(s) + "\n" for s in SAMPLES))
    r = CliRunner().invoke(
        app,
        [
            "train",
            str(data),
            "--task",
            str(ROOT / "examples" / "math.yaml"),
            "--base-model",
            str(base),
            "--device",
            "cpu",
            "--max-steps",
            "2",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "adapter" / "adapter_config.json").exists()


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_gpu_training(base: Path, tmp_path: Path, method: str) -> None:
    import importlib.util

    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    if method == "qlora" and importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes not installed")
    res = train_lora(
        MATH,
        SAMPLES * 4,
        tmp_path / "o",
        base_model=str(base),
        method=method,
        max_steps=4,
        batch_size=2,
        grad_accum=1,
        r=4,
        alpha=8,
        max_length=128,
    )
    assert all(math.isfinite(x) for x in res.losses)
    assert res.info["training"]["device"] == "cuda"
    expert = LoraExpert(tmp_path / "o", max_new_tokens=4)
    assert len(expert.bind(MATH).predict([SAMPLES[0]["input"]])) == 1


def test_an_interrupted_training_resumes_from_its_last_epoch(base: Path, tmp_path: Path) -> None:
    """Ctrl-C in epoch 2 keeps epoch 1's checkpoint; the same call again starts there, not at step 0."""
    from transformers import TrainerCallback

    class CtrlCInEpochTwo(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            if state.epoch and state.epoch >= 1:
                raise KeyboardInterrupt

    kw = {"base_model": str(base), "device": "cpu", "epochs": 3, "batch_size": 2, "grad_accum": 1}
    kw |= {"r": 4, "alpha": 8, "max_length": 128}
    out = tmp_path / "expert"
    per_epoch = math.ceil(len(SAMPLES) / 2)
    with pytest.raises(KeyboardInterrupt):
        train_lora(MATH, SAMPLES, out, callbacks=[CtrlCInEpochTwo()], **kw)
    assert [p.name for p in (out / "checkpoints").glob("checkpoint-*")] == [f"checkpoint-{per_epoch}"]

    train_lora(MATH, SAMPLES, out, **kw)
    info = json.loads((out / "expert.json").read_text())
    assert info["train"]["resumed_from_step"] == per_epoch
    assert info["train"]["steps"] == 3 * per_epoch
    assert not (out / "checkpoints").exists()  # the adapter is saved; the resume points are gone

    with pytest.raises(KeyboardInterrupt):
        train_lora(MATH, SAMPLES, out, callbacks=[CtrlCInEpochTwo()], **kw)
    train_lora(MATH, SAMPLES, out, **{**kw, "r": 8})  # other settings: no mix of two runs
    assert json.loads((out / "expert.json").read_text())["train"]["resumed_from_step"] == 0
