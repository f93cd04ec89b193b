"""Run the fake LLM server as a process: ``python -m taskforge.testing.fake_llm --port 0``.

Prints its URL on stdout once listening (one line, flushed), then serves until killed.
``--task TASK.yaml`` (repeatable) answers transform prompts like a model would for that task
(``task_responder``); with several, each request is answered for the task whose instruction
its prompt carries. Without ``--task`` it echoes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable
from typing import Any

from taskforge.testing._fake_llm import FAULTS, FakeLLMServer, echo_responder


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m taskforge.testing.fake_llm", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    p.add_argument("--fault-rate", type=float, default=0.0)
    p.add_argument("--faults", default=",".join(FAULTS), help=f"comma-separated, from {','.join(FAULTS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retry-after", type=float, default=0.05)
    p.add_argument("--hang", type=float, default=30.0, help="seconds a 'timeout' fault sleeps")
    p.add_argument("--capacity", type=int, default=None, help="requests served at once (default: no limit)")
    p.add_argument(
        "--overload", choices=["queue", "429"], default="queue", help="beyond capacity: queue or 429"
    )
    p.add_argument("--task", action="append", default=[], help="answer for this task spec (repeatable)")
    args = p.parse_args(argv)
    server = FakeLLMServer(
        responder=_responder(args.task),
        latency=args.latency,
        fault_rate=args.fault_rate,
        faults=[f for f in args.faults.split(",") if f],
        seed=args.seed,
        retry_after=args.retry_after,
        hang=args.hang,
        host=args.host,
        port=args.port,
        capacity=args.capacity,
        overload=args.overload,
    )
    asyncio.run(_serve(server))


def _responder(task_files: list[str]) -> Callable[[dict[str, Any]], str]:
    """Answers for the task whose instruction the request carries (the first task when none matches)."""
    if not task_files:
        return echo_responder
    from taskforge._task import Task
    from taskforge.testing._items import task_responder

    tasks = [Task.load(t) for t in task_files]
    answer = [(t.instruction.strip(), task_responder(t)) for t in tasks]

    def respond(body: dict[str, Any]) -> str:
        text = json.dumps(body.get("messages", []), ensure_ascii=False) + json.dumps(body.get("system", ""))
        for instruction, responder in answer:
            if json.dumps(instruction, ensure_ascii=False)[1:-1] in text:
                return responder(body)
        return answer[0][1](body)

    return respond


async def _serve(server: FakeLLMServer) -> None:
    await server.astart()
    print(server.url, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.astop()


if __name__ == "__main__":
    main()
