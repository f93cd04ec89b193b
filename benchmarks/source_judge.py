"""Can an LLM tell which sources fit a task better than the cards' cosine does? Source ranking only.

Issue 12's hard part is telling sources a careful person would use for a task from those that
only share its surface (bias probes for a question-type task, math exams for science questions,
recipes for physical commonsense). MiniLM similarities of cards and rows do not separate them
(README, "Tried ... not shipped"). An LLM judge of each (task, source) pair is the natural next
signal; this script measures it before anyone wires it into retrieval.

For each suite task with relevant sources (``retrieval_suite.py``; the target and its copies
excluded), the sources are ranked by the cosine of the task instruction with each source's
description (its card, as the datastore embeds it); the top ``--top`` are each shown to the LLM
(instruction, one example, the card's first 400 characters, one row) and it answers yes or no:
could their rows be rewritten into the task with light effort? Reported per task and per half:
the share of relevant sources in the first five by cosine, and in the first five when the
LLM's "yes" sources go first (cosine order within each group). No datastore is needed: the
sources are read from their folders.

    python benchmarks/source_judge.py --llm local:qwen0.5b
    python benchmarks/source_judge.py --llm openai:MODEL --llm-base-url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TASKFORGE_QUIET", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np

from retrieval_suite import SUITE, SuiteTask
from taskforge._cells import text_cells
from taskforge._datastore._readers import Row
from taskforge._datastore._sources import Source, resolve_source
from taskforge._embed import Embedder
from taskforge._llm import GenerationOptions, LLMRequest, make_llm, parse_verdict
from taskforge._settings import LLMSettings

SYSTEM = "You judge whether a dataset can be turned into training examples for a task. Answer only yes or no."
QUESTION = "Could an assistant rewrite rows of this dataset into examples of the task with light effort? Answer yes or no."


def first_row(src: Source) -> dict[str, str]:
    """The source's first row with text, as its cells (what the judge sees of the data)."""
    for item in src.rows():
        if isinstance(item, Row) and (cells := text_cells(item.record)):
            return cells
    return {}


def prompt(task: SuiteTask, src: Source, row: dict[str, str]) -> list[dict[str, str]]:
    ex = task.examples[0]
    text = (
        f"TASK: {task.instruction}\n"
        f"Example input: {json.dumps(ex['input'], ensure_ascii=False)[:300]}\n"
        f"Example output: {json.dumps(ex['output'], ensure_ascii=False)[:100]}\n\n"
        f"DATASET {src.name}: {src.description[:400]}\n"
        f"Example row: {json.dumps(row, ensure_ascii=False)[:300]}\n\n{QUESTION}"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


def precision_at(ranked: list[str], relevant: set[str], k: int = 5) -> float:
    return sum(name in relevant for name in ranked[:k]) / k


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--sources", default=str(Path(__file__).resolve().parents[2] / "shared" / "datastore-sources")
    )
    ap.add_argument("--llm", required=True, help="LLM spec, e.g. local:qwen0.5b or openai:MODEL")
    ap.add_argument("--llm-base-url", help="its endpoint, e.g. http://127.0.0.1:8000/v1")
    ap.add_argument("--top", type=int, default=12, help="sources per task the LLM judges (by cosine)")
    ap.add_argument("--half", choices=["A", "B"], help="one half of the suite (default: both)")
    ap.add_argument("--cache", default="source_judge_cache", help="folder of the LLM response cache")
    args = ap.parse_args()

    root = Path(args.sources)
    if not root.is_dir():
        sys.exit(f"error: {root} is not a folder of sources (--sources)")
    sources = {p.name: resolve_source(str(p)) for p in sorted(root.iterdir()) if p.is_dir()}
    names = list(sources)
    rows = {n: first_row(s) for n, s in sources.items()}
    emb = Embedder.load()
    cards = np.asarray(emb.encode([sources[n].description or n for n in names]), dtype=np.float32)
    tasks = [t for t in SUITE if t.relevant and (args.half is None or t.half == args.half)]

    plans: dict[str, tuple[SuiteTask, list[str], dict[str, float]]] = {}
    requests = []
    for t in tasks:
        q = np.asarray(emb.encode([t.instruction]), dtype=np.float32)[0]
        cos = {n: float(cards[i] @ q) for i, n in enumerate(names) if n not in t.exclude}
        top = sorted(cos, key=lambda n: -cos[n])[: args.top]
        plans[t.name] = (t, top, cos)
        for n in top:
            requests.append(
                LLMRequest(
                    key=f"{t.name}|{n}",
                    messages=prompt(t, sources[n], rows[n]),
                    options=GenerationOptions(temperature=0.0, max_tokens=8),
                )
            )

    settings = LLMSettings(spec=args.llm, base_url=args.llm_base_url, max_in_flight=4)
    llm = make_llm(settings, cache_dir=args.cache)
    verdicts: dict[str, str | None] = {}
    try:
        for res in llm.run(requests):
            verdicts[res.request.key] = parse_verdict(res.text, ["yes", "no"]) if res.ok else None
    finally:
        llm.print_summary()
        llm.close()

    print("\n| task | half | relevant in top | cosine P@5 | LLM-first P@5 | LLM said yes (relevant / all) |")
    print("| --- | --- | --- | --- | --- | --- |")
    by_half: dict[str, list[tuple[float, float]]] = {}
    for t, top, cos in plans.values():
        said = {n: verdicts.get(f"{t.name}|{n}") for n in top}
        rank = {"yes": 0, None: 1, "no": 2}
        judged = sorted(top, key=lambda n: (rank[said[n]], -cos[n]))
        p_cos, p_llm = precision_at(top, t.relevant), precision_at(judged, t.relevant)
        yes = [n for n in top if said[n] == "yes"]
        print(
            f"| {t.kind} | {t.half} | {sum(n in t.relevant for n in top)} | {p_cos:.2f} | {p_llm:.2f} "
            f"| {sum(n in t.relevant for n in yes)} / {len(yes)} |"
        )
        by_half.setdefault(t.half, []).append((p_cos, p_llm))
    for half, pairs in sorted(by_half.items()):
        mc, ml = (float(np.mean([p[i] for p in pairs])) for i in (0, 1))
        print(f"| **mean, half {half}** | {half} |  | {mc:.3f} | {ml:.3f} |  |")
    unanswered = sum(v is None for v in verdicts.values()) + len(requests) - len(verdicts)
    n_yes = sum(v == "yes" for v in verdicts.values())
    print(f"\n{len(requests)} judgements: {n_yes} yes, {unanswered} without a yes/no answer")


if __name__ == "__main__":
    main()
