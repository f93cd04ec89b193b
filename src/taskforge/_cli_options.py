"""Options that more than one command takes (``run`` and ``transform``): one flag, one help text.

Each is a typer ``Annotated`` alias; a command declares ``llm: options.LLM = None`` and reads the
value as before. Only typer is imported here: ``taskforge --help`` stays light (tests/test_startup.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

# ---- the LLM that transforms ----------------------------------------------------------------------
LLM = Annotated[
    str | None,
    typer.Option(
        "--llm",
        help="LLM for the transform: openai:MODEL, anthropic:MODEL or local:PATH.gguf "
        "(without it: the no-LLM mapper).",
    ),
]
BaseURL = Annotated[
    list[str] | None,
    typer.Option(
        "--base-url",
        help="OpenAI-compatible server, e.g. http://localhost:8000/v1; repeat for replicas of one model.",
    ),
]
Structured = Annotated[
    str | None,
    typer.Option(
        "--structured",
        help="Send the answer's JSON schema: auto (fall back if refused), on, off "
        "(default: the task's `llm.structured`, else auto)",
    ),
]
Batch = Annotated[bool, typer.Option("--batch", help="OpenAI / Anthropic batch API at the batch price.")]
MaxCost = Annotated[
    float | None, typer.Option("--max-cost", help="LLM budget in USD: no more calls once it is spent.")
]
MaxCalls = Annotated[
    int | None, typer.Option("--max-calls", help="LLM budget in calls: no more calls after this many.")
]
LocalSlots = Annotated[
    int | None,
    typer.Option("--local-slots", min=1, help="--llm local:MODEL: parallel slots of the llama.cpp server."),
]
MaxInFlight = Annotated[
    int | None,
    typer.Option(
        "--max-in-flight",
        min=1,
        help="Concurrent LLM requests (default: the task's `llm.max_in_flight`, else 32)",
    ),
]

# ---- how samples are made -------------------------------------------------------------------------
Mapper = Annotated[
    bool,
    typer.Option("--mapper", help="Map rows onto the task's fields without an LLM (default without --llm)."),
]
CoT = Annotated[
    bool | None,
    typer.Option(
        "--cot/--no-cot",
        help="Chain-of-thought: ask for reasoning before the answer, kept in its own field "
        "(default: the task's `transform.chain_of_thought`, else off)",
    ),
]
LabelMap = Annotated[
    list[str] | None,
    typer.Option(
        "--label-map",
        help="Mapper: RAW=LABEL, e.g. contradiction=not_entailment (repeatable; "
        "in place of the task's `transform.label_map`).",
    ),
]


def label_map_pairs(pairs: list[str] | None) -> dict[str, str] | None:
    """``["RAW=LABEL", ...]`` -> ``{RAW: LABEL}``; None when none were given."""
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise typer.BadParameter(f"--label-map takes RAW=LABEL, got {pair!r}")
        out[src.strip()] = dst.strip()
    return out


MaxErrorRate = Annotated[
    float | None,
    typer.Option(
        "--max-error-rate",
        min=0.0,
        max=1.0,
        help="Stop (exit 1) when more than this share of LLM requests still fail after retries (default 0.1).",
    ),
]


def llm_flags(*, llm: str | None, base_url: list[str] | None, batch: bool, **more: Any) -> dict[str, Any]:
    """The ``llm`` settings section from these options (unset ones None, so lower layers decide):
    one ``--base-url`` is a URL, several are replicas of one model."""
    urls = base_url[0] if base_url and len(base_url) == 1 else base_url
    return {"spec": llm, "base_url": urls, "batch": batch or None, **more}
