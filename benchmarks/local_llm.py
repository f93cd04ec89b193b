"""A real small model through the whole LLM path: valid and grounded sample rates, calls per kept
sample, tokens/s, with and without structured outputs, and whether the few-shot filter drops copies.

    python scripts/setup_local_llm.py all            # once: runtime + model into the user cache
    python benchmarks/local_llm.py [--model qwen0.5b] [--items 30] [--slots 2]

Items: the first rows of three demo sources (NLI rows, yes/no questions, science facts), the mix
retrieval gives for the NLI task. A sample is *valid* when it passes parsing and validation;
*grounded* when its input is closer to the retrieved row than to every few-shot example
(rapidfuzz token_set_ratio) and shares at least half of its words; a *copy* is within 85 of a
few-shot example (the few-shot similarity filter's threshold, on input text only). The baseline
in the same run is the same model without a schema (parse + one repair request).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz

os.environ.setdefault("TASKFORGE_QUIET", "1")

from taskforge._console import console, summary_table
from taskforge._llm import LLM
from taskforge._llm._local import LocalOptions
from taskforge._quality._filters import FewShotSimilarityFilter
from taskforge._task import Task
from taskforge._transform import transform
from taskforge.testing import demo_items

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO = Path(__file__).resolve().parents[1] / "demo" / "sources"


def items_for(n: int) -> list[dict[str, Any]]:
    third = max(1, n // 3)
    items = (
        demo_items(DEMO, "snli_dev", n - 2 * third)
        + demo_items(DEMO, "boolq", third)
        + demo_items(DEMO, "openbookqa", third)
    )
    for rank, it in enumerate(items, 1):
        it["rank"] = rank
    return items


def _text(value: Any) -> str:
    return " ".join(str(v) for v in value.values()) if isinstance(value, dict) else str(value)


def grounding(task: Task, items: list[dict[str, Any]], samples: list[dict[str, Any]]) -> dict[str, int]:
    """Counts of grounded samples and of copies of a few-shot example, and what the filter drops."""
    by_row = {(it["source"], it["row_id"]): it for it in items}
    examples = [_text(e.input).lower() for e in task.examples]
    grounded = copies = 0
    copy_ids = set()
    for s in samples:
        item = by_row[(s["provenance"]["source"], s["provenance"]["row_id"])]
        text = _text(s["input"]).lower()
        row = " ".join(str(v) for v in (item.get("cells") or {}).values()).lower()
        to_row = fuzz.token_set_ratio(text, row)
        to_examples = max(fuzz.token_set_ratio(text, e) for e in examples)
        words = set(text.split())
        shared = len(words & set(row.split())) / max(1, len(words))
        if to_row > to_examples and shared >= 0.5:
            grounded += 1
        if to_examples >= 85:
            copies += 1
            copy_ids.add(s["id"])
    drops = FewShotSimilarityFilter(task).decide(samples)
    dropped = {s["id"] for s, d in zip(samples, drops, strict=True) if d is not None}
    return {
        "grounded": grounded,
        "copies": copies,
        "copies_dropped": len(copy_ids & dropped),
        "others_dropped": len(dropped - copy_ids),
    }


def server_speed(base_url: str) -> tuple[float, float]:
    """(prompt tokens/s, generated tokens/s) of one request, from llama-server's own timings."""
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "Write three sentences about the sea. " * 8}],
        "max_tokens": 64,
        "temperature": 0,
    }
    req = urllib.request.Request(
        base_url + "/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=600) as r:
        t = json.load(r)["timings"]
    return t["prompt_per_second"], t["predicted_per_second"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="qwen0.5b", help="a name from setup_local_llm.py or a GGUF path")
    p.add_argument("--items", type=int, default=30)
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args()
    task = Task.load(EXAMPLES / "nli.yaml")
    items = items_for(args.items)
    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("auto", "off"):
            llm = LLM.from_spec(
                f"local:{args.model}",
                cache_path=Path(tmp) / f"{mode}.sqlite",
                local=LocalOptions(slots=args.slots, threads=args.threads),
                timeout=900,
                structured=mode,
            )
            try:
                if mode == "auto":
                    prompt_tps, gen_tps = server_speed(llm.base_urls[0])
                t0 = time.monotonic()
                res = transform(task, items, Path(tmp) / mode / "samples.jsonl", llm=llm, progress=False)
                wall = time.monotonic() - t0
            finally:
                llm.close()
            samples = [json.loads(x) for x in (Path(tmp) / mode / "samples.jsonl").read_text().splitlines()]
            g = grounding(task, items, samples)
            s = res.llm_stats
            fig = {
                "items": res.items,
                "valid": res.samples,
                "rejects": res.rejects_by_reason,
                "calls": s["calls"],
                "calls_per_kept": s["calls"] / max(1, res.samples),
                "output_tokens": s["output_tokens"],
                "seconds": wall,
                **g,
            }
            figures[mode] = fig
            label = "schema (structured auto)" if mode == "auto" else "no schema (parse + repair)"
            rows.append(
                [
                    label,
                    f"{res.samples}/{res.items}",
                    f"{g['grounded']}/{res.items}",
                    f"{g['copies']}",
                    f"{g['copies_dropped']}/{g['copies']} (+{g['others_dropped']} others)",
                    f"{fig['calls_per_kept']:.2f}",
                    f"{s['output_tokens'] / wall:.1f}",
                    f"{wall / 60:.1f}",
                ]
            )
    figures["server"] = {"prompt_tokens_per_s": prompt_tps, "generated_tokens_per_s": gen_tps}
    figures["load_average"] = os.getloadavg()
    console.width = max(console.width, 120)
    console.print(
        summary_table(
            f"local:{args.model}, {args.items} NLI items, {args.slots} slots x {args.threads} thread(s); "
            f"one request: {prompt_tps:.0f} prompt tok/s, {gen_tps:.1f} generated tok/s; "
            f"load average {os.getloadavg()[0]:.1f}",
            [
                "mode",
                "valid",
                "grounded",
                "copies",
                "filter drops copies",
                "calls/kept",
                "out tok/s (all slots)",
                "min",
            ],
            rows,
        )
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
