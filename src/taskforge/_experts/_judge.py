"""Evaluation through the LLM layer: a few-shot prompting baseline and an LLM-judge win rate.

The few-shot baseline answers the eval items with the task's own examples as earlier chat
turns (the same prompt format a LoRA expert is trained on), so "expert vs. the LLM that made
its data" is a like-for-like comparison. The judge compares a prediction with the reference
in both orders (A/B then B/A) to cancel position bias: win 1, tie 0.5, loss 0 per order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from taskforge._experts._data import FieldValue, chat_messages, completion_text
from taskforge._experts._errors import ExpertError
from taskforge._settings import LLMSettings
from taskforge._task import Task

if TYPE_CHECKING:
    from taskforge._llm import LLMClient

FEW_SHOT_KIND = "llm-few-shot"

JUDGE_SYSTEM = "You are a strict, impartial judge of answers to a task. Reply with one word."
JUDGE_PROMPT = """Task: {instruction}

Input:
{input}

Response A:
{a}

Response B:
{b}

Which response answers the input better (correct first, then complete and well-formed)?
Reply with exactly one word: A, B, or tie."""


def client(llm: LLMClient | str) -> LLMClient:
    """The client itself, or one made from a spec string ("openai:MODEL") by the one factory."""
    if not isinstance(llm, str):
        return llm
    from taskforge._llm import make_llm

    return make_llm(LLMSettings(spec=llm))


class FewShotLLM:
    """Predictor that prompts an LLM with the task's examples (greedy by default)."""

    kind = FEW_SHOT_KIND

    def __init__(
        self,
        llm: LLMClient,
        task: Task | None = None,
        *,
        shots: int | None = None,
        temperature: float = 0.0,
        max_tokens: int = 512,
    ) -> None:
        self.llm = llm
        self.shots = shots
        self.temperature, self.max_tokens = temperature, max_tokens
        self.failures = 0
        self._task = task

    @property
    def name(self) -> str:
        return f"{self.llm.spec} (few-shot)"

    def bind(self, task: Task) -> FewShotLLM:
        self._task = task
        return self

    def predict(self, inputs: Sequence[FieldValue]) -> list[str]:
        from taskforge._llm import GenerationOptions, LLMRequest

        task = self._task
        if task is None:
            raise ExpertError("FewShotLLM.predict needs the task: call .bind(task) first")
        examples = [{"input": e.input, "output": e.output} for e in task.examples]
        shots = examples[: self.shots] if self.shots is not None else examples
        opts = GenerationOptions(temperature=self.temperature, top_p=1.0, max_tokens=self.max_tokens)
        requests = [
            LLMRequest(key=str(i), messages=chat_messages(task, v, shots), options=opts)
            for i, v in enumerate(inputs)
        ]
        out = [""] * len(inputs)
        for res in self.llm.run(requests):
            if res.ok:
                out[int(res.request.key)] = res.text or ""
            else:
                self.failures += 1
        return out


@dataclass
class JudgeResult:
    win_rate: float
    wins: int = 0
    ties: int = 0
    losses: int = 0
    failures: int = 0
    judge: str = ""
    verdicts: list[float | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "win_rate": self.win_rate,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "failures": self.failures,
        }


def judge_choice(text: str | None) -> str | None:
    """'A' / 'B' / 'tie' from the judge's reply (see :func:`taskforge._llm.parse_verdict`), else None."""
    from taskforge._llm import parse_verdict

    return parse_verdict(text, ("A", "B", "tie"))


def judge_win_rate(
    judge: LLMClient | str,
    task: Task,
    items: Sequence[dict[str, Any]],
    predictions: Sequence[str],
    *,
    max_tokens: int = 8,
) -> JudgeResult:
    """Share of items where the judge prefers the prediction over the reference output."""
    from taskforge._llm import GenerationOptions, LLMRequest

    llm = client(judge)
    opts = GenerationOptions(temperature=0.0, top_p=1.0, max_tokens=max_tokens)
    requests = []
    for i, (it, pred) in enumerate(zip(items, predictions, strict=True)):
        ref = completion_text(task, it)
        for order, (a, b) in (("p", (pred, ref)), ("r", (ref, pred))):
            prompt = JUDGE_PROMPT.format(
                instruction=task.instruction.strip(), input=Task.text_of(it["input"]), a=a, b=b
            )
            requests.append(
                LLMRequest(
                    key=f"{i}:{order}",
                    options=opts,
                    messages=[
                        {"role": "system", "content": JUDGE_SYSTEM},
                        {"role": "user", "content": prompt},
                    ],
                )
            )
    scores: dict[int, list[float]] = {}
    failures = 0
    for res in llm.run(requests):
        i_s, order = res.request.key.split(":")
        verdict = judge_choice(res.text) if res.ok else None
        if verdict is None:
            failures += 1
            continue
        pred_slot = "A" if order == "p" else "B"
        scores.setdefault(int(i_s), []).append(0.5 if verdict == "tie" else float(verdict == pred_slot))
    per_item = [sum(scores[i]) / len(scores[i]) if i in scores else None for i in range(len(items))]
    done = [s for s in per_item if s is not None]
    return JudgeResult(
        win_rate=sum(done) / len(done) if done else 0.0,
        wins=sum(s == 1.0 for s in done),
        ties=sum(0.0 < s < 1.0 for s in done),
        losses=sum(s == 0.0 for s in done),
        failures=failures,
        judge=llm.spec,
        verdicts=per_item,
    )
