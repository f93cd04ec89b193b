"""A fake LLM server for tests and benchmarks: real HTTP on 127.0.0.1, both protocols, faults on purpose.

It speaks the OpenAI chat completions protocol (``POST /v1/chat/completions``) and the
Anthropic messages protocol (``POST /v1/messages``), with ``usage`` in both, so code under
test goes through real sockets exactly as it would against vLLM, Ollama or a provider.

In-process (a background thread with its own event loop)::

    from taskforge.testing import FakeLLMServer
    from taskforge._llm import LLM, LLMRequest

    def responder(body: dict) -> str:          # parsed request body -> assistant text
        return '{"label": "positive"}'

    with FakeLLMServer(responder=responder, latency=0.01, fault_rate=0.2, seed=1) as server:
        llm = LLM.from_spec("openai:fake", base_url=server.openai_url, cache_path=tmp / "c.sqlite")
        # or LLM.from_spec("anthropic:fake", base_url=server.anthropic_url, ...)
        results = list(llm.run([LLMRequest(key="a", messages=[{"role": "user", "content": "hi"}])]))
        assert server.request_count >= 1       # every request received, faulty or not
        server.requests                        # parsed bodies, in arrival order
        server.completed_count                 # requests answered with a valid 200
        server.max_concurrent                  # most requests it was handling at once

As a subprocess (prints its URL on stdout once it is listening; ``--port 0`` picks a free port;
``GET /_fake/stats`` returns the counters as JSON, ``POST /_fake/capacity`` changes the capacity)::

    python -m taskforge.testing.fake_llm --port 0 --latency 0.2 --fault-rate 0.1 --faults 429,500

The responder gets the parsed JSON body as sent (OpenAI: system prompt inside ``messages``;
Anthropic: top-level ``system``; ``system_prompt(body)`` and ``last_user_message(body)`` read
either). It is called once per choice (``n``); if it raises, the request gets HTTP 500.
``latency`` is seconds per request, or a callable of the body (to make some requests slow).

Faults (``fault_rate`` of requests, chosen uniformly from ``faults`` with a seeded RNG;
``fault_sequence`` forces the faults of the first requests, e.g. ``["429", "429"]``):
``"429"`` rate limited with ``Retry-After: retry_after``; ``"500"`` server error;
``"timeout"`` sleeps ``hang`` seconds (set it above the client's timeout);
``"drop"`` closes the connection without answering; ``"broken_json"`` HTTP 200 with a body
that is not JSON. Two more kinds, not in the default set: ``"truncated_json"`` (HTTP 200, a
well-formed answer cut off halfway, as when a proxy drops the end of a body) and ``"garbage"``
(HTTP 200 with an HTML error page, as some gateways send). Malformed requests get 400, as a real server would (Anthropic: a
``system`` role inside ``messages``, or no ``max_tokens`` / ``anthropic-version``).

Capacity: ``capacity=N`` serves at most N requests at once; the rest queue (``overload="queue"``,
like llama.cpp's slots: latency rises) or get 429 at once (``overload="429"``, like a rate-limited
API). ``set_capacity(n)`` changes it while running (a server that loses half its GPUs).

Structured outputs: requests with ``response_format: {"type": "json_schema"}`` (OpenAI) or a
forced tool (Anthropic) are counted in ``structured_requests``; with ``schema_support=False``
they get 400, like a server that cannot constrain decoding. The responder sees the body (its
``response_format`` / ``tools``) and may follow the schema; a forced tool's input is the
responder's text parsed as JSON.

Batch APIs (``taskforge.testing._fake_batch``): OpenAI files + batches and Anthropic message
batches, finishing ``batch_delay`` seconds after creation, with ``batch_fail_rate`` of the
requests errored and ``batch_expire=True`` expiring a batch half done.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from taskforge.testing._fake_batch import BatchState

FAULTS = ("429", "500", "timeout", "drop", "broken_json")
MORE_FAULTS = ("truncated_json", "garbage")  # opt-in: faults=(*FAULTS, *MORE_FAULTS)
Responder = Callable[[dict[str, Any]], str]


def last_user_message(body: dict[str, Any]) -> str:
    """The text of the last user message of a request body (either protocol)."""
    last = ""
    for msg in body.get("messages", []):
        if msg.get("role") == "user":
            content = msg.get("content")
            last = content if isinstance(content, str) else json.dumps(content, sort_keys=True)
    return last


def system_prompt(body: dict[str, Any]) -> str:
    """The system prompt of a request body: Anthropic's top-level ``system`` or OpenAI's system messages."""
    if isinstance(body.get("system"), str):
        return body["system"]
    return "\n\n".join(m.get("content", "") for m in body.get("messages", []) if m.get("role") == "system")


def echo_responder(body: dict[str, Any]) -> str:
    """Deterministic default: ``"echo: "`` + the last user message."""
    return f"echo: {last_user_message(body)}"


def _n_tokens(text: str) -> int:
    return max(1, len(text.split()))


class FakeLLMServer:
    """Real aiohttp server in a background thread; use as a context manager (or start()/stop())."""

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        latency: float | Callable[[dict[str, Any]], float] = 0.0,
        fault_rate: float = 0.0,
        faults: Sequence[str] = FAULTS,
        fault_sequence: Sequence[str | None] = (),
        seed: int = 0,
        retry_after: float = 0.05,
        hang: float = 30.0,
        host: str = "127.0.0.1",
        port: int = 0,
        capacity: int | None = None,
        overload: str = "queue",
        schema_support: bool = True,
        batch_delay: float = 0.5,
        batch_fail_rate: float = 0.0,
        batch_expire: bool = False,
    ) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be in [0, 1], got {fault_rate}")
        known = set(FAULTS) | set(MORE_FAULTS)
        unknown = set(faults) - known | {f for f in fault_sequence if f} - known
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; choose from {(*FAULTS, *MORE_FAULTS)}")
        if fault_rate > 0 and not faults:
            raise ValueError("fault_rate > 0 needs at least one fault kind")
        self.responder: Responder = responder or echo_responder
        self.latency = latency
        self.fault_rate = fault_rate
        self.faults = tuple(faults)
        self.retry_after = retry_after
        self.hang = hang
        self.host, self.port = host, port
        self._fault_sequence = list(fault_sequence)
        self._rng = random.Random(seed)
        self.request_count = 0
        self.completed_count = 0
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fault_counts: Counter[str] = Counter()
        self.in_flight = 0
        self.max_concurrent = 0
        if overload not in ("queue", "429"):
            raise ValueError(f"overload must be 'queue' or '429', got {overload!r}")
        self.capacity = capacity
        self.overload = overload
        self.busy = 0  # requests being served (inside the capacity)
        self.rejected_overload = 0
        self._slot_waiters: list[asyncio.Future[None]] = []
        self.schema_support = schema_support
        self.structured_requests = 0
        self.batches = BatchState(
            self,
            {"openai": _openai_answer, "anthropic": _anthropic_answer},
            delay=batch_delay,
            fail_rate=batch_fail_rate,
            expire=batch_expire,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # -- URLs -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        """Base URL for an OpenAI-compatible client (``.../v1``)."""
        return self.url + "/v1"

    @property
    def anthropic_url(self) -> str:
        """Base URL for an Anthropic client (it appends ``/v1/messages``)."""
        return self.url

    # -- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> FakeLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        ready = threading.Event()
        errors: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.astart())
            except BaseException as e:  # surface bind errors to the caller
                errors.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.astop())
            loop.close()

        self._thread = threading.Thread(target=main, name="fake-llm-server", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop = self._thread = None

    async def astart(self) -> None:
        """Start serving on the running loop (what the subprocess entry point uses)."""
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_get("/_fake/stats", self._stats)
        app.router.add_post("/_fake/capacity", self._capacity)
        self.batches.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def astop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def reset(self) -> None:
        """Zero the counters (between phases of a test)."""
        self.request_count = self.completed_count = self.max_concurrent = 0
        self.structured_requests = self.rejected_overload = 0
        self.requests.clear()
        self.headers.clear()
        self.fault_counts.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "request_count": self.request_count,
            "completed_count": self.completed_count,
            "max_concurrent": self.max_concurrent,
            "faults": dict(self.fault_counts),
            "rejected_overload": self.rejected_overload,
            "structured_requests": self.structured_requests,
            "capacity": self.capacity,
        }

    def set_capacity(self, capacity: int | None) -> None:
        """Change how many requests are served at once (thread-safe; takes effect at once)."""
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._set_capacity, capacity)
        else:
            self._set_capacity(capacity)

    def _set_capacity(self, capacity: int | None) -> None:
        self.capacity = capacity
        self._wake_slots()

    def _wake_slots(self) -> None:
        while self._slot_waiters and (self.capacity is None or self.busy < self.capacity):
            fut = self._slot_waiters.pop(0)
            if not fut.done():
                self.busy += 1
                fut.set_result(None)

    async def _enter_slot(self) -> bool:
        """Take a serving slot; False when full and overload is 429."""
        if self.capacity is None or (self.busy < self.capacity and not self._slot_waiters):
            self.busy += 1
            return True
        if self.overload == "429":
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._slot_waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._leave_slot()
            elif fut in self._slot_waiters:
                self._slot_waiters.remove(fut)
            raise
        return True

    def _leave_slot(self) -> None:
        self.busy -= 1
        self._wake_slots()

    # -- handlers -------------------------------------------------------------------------
    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _capacity(self, request: web.Request) -> web.Response:
        """``POST /_fake/capacity {"capacity": N}``: change capacity from another process (benchmarks)."""
        body = await request.json()
        self._set_capacity(body.get("capacity"))
        return web.json_response(self.stats())

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "openai")

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, "anthropic")

    async def _handle(self, request: web.Request, protocol: str) -> web.StreamResponse:
        self.request_count += 1
        self.in_flight += 1
        self.max_concurrent = max(self.max_concurrent, self.in_flight)
        try:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                return _error(400, "request body is not valid JSON")
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            if not await self._enter_slot():
                self.rejected_overload += 1
                return _error(429, "over capacity (fake)", headers={"Retry-After": f"{self.retry_after:g}"})
            try:
                delay = self.latency(body) if callable(self.latency) else self.latency
                if delay > 0:
                    await asyncio.sleep(delay)
            finally:
                self._leave_slot()
            fault = self._pick_fault()
            if fault is not None:
                self.fault_counts[fault] += 1
                return await self._fault(request, fault)
            problem = _check(body, request, protocol)
            if problem:
                return _error(400, problem)
            if _wants_schema(body):
                if not self.schema_support:
                    return _error(400, "response_format json_schema is not supported (fake)")
                self.structured_requests += 1
            answer = _openai_answer(self, body) if protocol == "openai" else _anthropic_answer(self, body)
            self.completed_count += 1
            return web.json_response(answer)
        finally:
            self.in_flight -= 1

    def _pick_fault(self) -> str | None:
        if self._fault_sequence:
            return self._fault_sequence.pop(0)
        if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
            return self._rng.choice(self.faults)
        return None

    async def _fault(self, request: web.Request, fault: str) -> web.StreamResponse:
        if fault == "429":
            return _error(429, "rate limited (fake)", headers={"Retry-After": f"{self.retry_after:g}"})
        if fault == "500":
            return _error(500, "internal error (fake)")
        if fault == "broken_json":
            return web.Response(status=200, text='{"choices": [{"message": ', content_type="application/json")
        if fault == "truncated_json":
            message = {"role": "assistant", "content": "an answer that never arrives whole"}
            whole = json.dumps({"id": "cut", "choices": [{"index": 0, "message": message}]})
            return web.Response(status=200, text=whole[: len(whole) // 2], content_type="application/json")
        if fault == "garbage":
            page = "<html><body><h1>502 Bad Gateway</h1></body></html>"
            return web.Response(status=200, text=page, content_type="text/html")
        if fault == "timeout":
            assert self._stopping is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.hang)
            return _error(504, "fake hang ended")
        # drop: close the socket without a response
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "fake_error", "code": status}}
    return web.json_response(body, status=status, headers=headers)


def _check(body: dict[str, Any], request: web.Request, protocol: str) -> str | None:
    """The few protocol rules a real server enforces, so clients that break them fail here too."""
    messages = body.get("messages")
    if not body.get("model") or not isinstance(messages, list) or not messages:
        return "model and a non-empty messages list are required"
    if protocol == "anthropic":
        if "anthropic-version" not in request.headers:
            return "anthropic-version header is required"
        if not isinstance(body.get("max_tokens"), int):
            return "max_tokens is required"
        if any(m.get("role") == "system" for m in messages):
            return "system messages go in the top-level system field"
    return None


def _wants_schema(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format")
    return (isinstance(fmt, dict) and fmt.get("type") == "json_schema") or bool(body.get("tool_choice"))


def _openai_answer(server: FakeLLMServer, body: dict[str, Any]) -> dict[str, Any]:
    n = int(body.get("n") or 1)
    texts = [server.responder(body) for _ in range(n)]
    prompt_tokens = sum(_n_tokens(str(m.get("content", ""))) for m in body["messages"])
    completion_tokens = sum(_n_tokens(t) for t in texts)
    return {
        "id": f"chatcmpl-fake-{server.request_count}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _anthropic_answer(server: FakeLLMServer, body: dict[str, Any]) -> dict[str, Any]:
    text = server.responder(body)
    system = body.get("system") or ""
    input_tokens = sum(_n_tokens(str(m.get("content", ""))) for m in body["messages"])
    input_tokens += _n_tokens(system) if system else 0
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        try:
            tool_input = json.loads(text)
        except ValueError:
            tool_input = {"text": text}
        content: list[dict[str, Any]] = [
            {"type": "tool_use", "id": "toolu_fake", "name": choice.get("name"), "input": tool_input}
        ]
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": text}], "end_turn"
    return {
        "id": f"msg_fake_{server.request_count}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": _n_tokens(text)},
    }


__all__ = [
    "FAULTS",
    "MORE_FAULTS",
    "FakeLLMServer",
    "Responder",
    "echo_responder",
    "last_user_message",
    "system_prompt",
]
