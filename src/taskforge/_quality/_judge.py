"""Optional LLM judge: ReBase's yes/no "is this data fit for the task" filter (paper, Appendix B.2).

Calls go through the LLM layer (``taskforge._llm``), so they are cached, rate-limited and
retried there. A call that still fails, or an answer that is neither yes nor no, is never a
silent keep or drop: by default the sample is dropped under the separate filter name
``judge_error`` with the error as the reason (so the funnel tells "judged unfit" from "not
judged"); a re-run retries only those, the others come from the cache.
``on_error="keep"`` keeps such samples instead and still counts them in the report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from taskforge._quality._filters import Drop, Filter
from taskforge._records import Sample, input_text, output_text
from taskforge._task import Task

if TYPE_CHECKING:
    from taskforge._llm import LLMClient

PROMPT = """You will be given a task description. Your task is to determine whether a data is fitful for this task.

# Instruction:

{task_description}

# Fitful Examples that meet the task's request:

{examples}

Now, there is a new data. Your task is to determine whether this data is fitful for this task.

New Data:

```
{new_data}
```

Response (Yes or No):"""


def _data_block(input_value: str, output_value: str) -> str:
    return json.dumps({"input": input_value, "output": output_value}, ensure_ascii=False, indent=2)


def judge_prompt(task: Task, sample: Sample) -> str:
    """The Appendix B.2 prompt for one sample (values JSON-escaped, examples in the same block form)."""
    examples = "\n\n".join(_data_block(Task.text_of(e.input), Task.text_of(e.output)) for e in task.examples)
    out = output_text(sample)
    if sample.get("reasoning"):
        out = f"{sample['reasoning']}\n{out}"
    return PROMPT.format(
        task_description=task.instruction.strip(),
        examples=examples,
        new_data=_data_block(input_text(sample), out),
    )


def judge_says(text: str | None) -> bool | None:
    """True for yes, False for no, None when the reply gives neither (see :func:`taskforge._llm.parse_verdict`)."""
    from taskforge._llm import parse_verdict

    verdict = parse_verdict(text, ("yes", "no"))
    return None if verdict is None else verdict == "yes"


class JudgeFilter(Filter):
    """Ask an LLM whether each sample fits the task; drop the "no"s."""

    name = "judge"
    names = ("judge", "judge_error")

    def __init__(
        self, task: Task, llm: LLMClient, *, on_error: Literal["drop", "keep"] = "drop", max_tokens: int = 8
    ) -> None:
        super().__init__()
        self.task, self.llm, self.on_error, self.max_tokens = task, llm, on_error, max_tokens
        self.errors = 0
        self.kept_on_error = 0

    def decide(self, samples: Sequence[Sample]) -> list[Drop | None]:
        from taskforge._llm import GenerationOptions, LLMRequest

        options = GenerationOptions(temperature=0.0, top_p=1.0, max_tokens=self.max_tokens, seed=0, n=1)
        requests = [
            LLMRequest(
                key=str(i),
                messages=[{"role": "user", "content": judge_prompt(self.task, s)}],
                options=options,
            )
            for i, s in enumerate(samples)
        ]
        out: list[Drop | None] = [None] * len(samples)
        answered = set()
        for res in self.llm.run(requests):
            i = int(res.request.key)
            answered.add(i)
            if not res.ok:
                out[i] = self._error(f"judge call failed: {res.error}", None)
                continue
            verdict = judge_says(res.text)
            if verdict is None:
                out[i] = self._error(
                    f"judge answer is neither yes nor no: {(res.text or '')[:80]!r}", res.text
                )
            elif not verdict:
                out[i] = Drop("judge: not fit for the task (answered no)", raw=res.text)
        for i in set(range(len(samples))) - answered:
            out[i] = self._error("judge returned no result for this sample", None)
        return out

    def _error(self, reason: str, raw: str | None) -> Drop | None:
        self.errors += 1
        if self.on_error == "keep":
            self.kept_on_error += 1
            return None
        return Drop(reason, filter="judge_error", raw=raw)

    def report(self) -> dict[str, Any]:
        return {
            "judge": {
                "model": self.llm.spec,
                "errors": self.errors,
                "on_error": self.on_error,
                "kept_on_error": self.kept_on_error,
                "llm": self.llm.stats.as_dict(),
            }
        }
