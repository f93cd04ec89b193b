"""Task experts: train a small model on the generated samples and evaluate it.

- ``train_cpu_expert``: the bundled MiniLM encoder + classification head (CPU, minutes).
- ``train_lora``: LoRA / QLoRA supervised fine-tuning of a causal LM with peft + trl
  (CRAFT and ReBase presets), loss on the answer only.
- ``evaluate``: accuracy, SQuAD EM/F1, chrF++, ROUGE-L, LLM-judge win rate, few-shot LLM baseline.

Heavy libraries (torch, transformers, peft, trl) are imported inside the functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskforge._lazy import lazy_exports

# name -> its module; loaded on first use (taskforge._lazy), so importing one module of the
# package (a CLI command) does not import all of them
_EXPORTS = {
    "CpuExpert": "taskforge._experts._cpu",
    "TrainResult": "taskforge._experts._cpu",
    "train_cpu_expert": "taskforge._experts._cpu",
    "ExpertError": "taskforge._experts._errors",
    "EvalResult": "taskforge._experts._evaluate",
    "evaluate": "taskforge._experts._evaluate",
    "load_model": "taskforge._experts._evaluate",
    "score": "taskforge._experts._evaluate",
    "FewShotLLM": "taskforge._experts._judge",
    "JudgeResult": "taskforge._experts._judge",
    "judge_win_rate": "taskforge._experts._judge",
    "PRESETS": "taskforge._experts._lora",
    "LoraExpert": "taskforge._experts._lora",
    "check_lora_ready": "taskforge._experts._lora",
    "resolve_base_model": "taskforge._experts._lora",
    "train_lora": "taskforge._experts._lora",
    "answers_match": "taskforge._experts._metrics",
    "chrf_pp": "taskforge._experts._metrics",
    "exact_match": "taskforge._experts._metrics",
    "extract_answer": "taskforge._experts._metrics",
    "normalize_answer": "taskforge._experts._metrics",
    "rouge_l": "taskforge._experts._metrics",
    "token_f1": "taskforge._experts._metrics",
    "default_expert": "taskforge._experts._train",
    "train_expert": "taskforge._experts._train",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "PRESETS",
    "CpuExpert",
    "EvalResult",
    "ExpertError",
    "FewShotLLM",
    "JudgeResult",
    "LoraExpert",
    "TrainResult",
    "answers_match",
    "check_lora_ready",
    "chrf_pp",
    "default_expert",
    "evaluate",
    "exact_match",
    "extract_answer",
    "judge_win_rate",
    "load_model",
    "normalize_answer",
    "resolve_base_model",
    "rouge_l",
    "score",
    "token_f1",
    "train_cpu_expert",
    "train_expert",
    "train_lora",
]

if TYPE_CHECKING:
    from taskforge._experts._cpu import CpuExpert, TrainResult, train_cpu_expert
    from taskforge._experts._errors import ExpertError
    from taskforge._experts._evaluate import EvalResult, evaluate, load_model, score
    from taskforge._experts._judge import FewShotLLM, JudgeResult, judge_win_rate
    from taskforge._experts._lora import PRESETS, LoraExpert, check_lora_ready, resolve_base_model, train_lora
    from taskforge._experts._metrics import (
        answers_match,
        chrf_pp,
        exact_match,
        extract_answer,
        normalize_answer,
        rouge_l,
        token_f1,
    )
    from taskforge._experts._train import default_expert, train_expert
