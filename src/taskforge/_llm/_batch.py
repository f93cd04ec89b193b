"""Batch APIs at the batch price: OpenAI Batch (upload JSONL, create, poll, download) and Anthropic
Message Batches (create, poll, read results), behind ``LLM(batch=True)``.

Every request is first looked up in the response cache; the rest go out in batches whose ids
(and the cache keys inside them) are recorded in the cache file's ``batches`` table the moment
the provider accepts them. A re-run, or a run resumed after a kill, polls those batches instead
of submitting again; answers land in the same cache under the same keys as online calls, so
switching between batch and online mode never pays twice. Requests that errored or expired in
a batch are reported as failures (not cached), so the next run sends them again. OpenAI's upload
is recorded before the batch is created: a kill between the two is resolved by finding the batch
whose ``input_file_id`` is ours.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from taskforge._llm._backends import Completion, ProtocolError
from taskforge._llm._retry import Attempt as _Attempt
from taskforge._llm._retry import error_detail, redact
from taskforge._llm._types import BUDGET_SPENT, LLMError, LLMRequest, LLMResult
from taskforge._llm._types import aiter_requests as _aiter

LLM = Any  # taskforge._llm._client.LLM (not imported: the client imports this module)

log = logging.getLogger("taskforge.llm")

MAX_REQUESTS = {"openai": 50_000, "anthropic": 100_000}
MAX_BYTES = 100 * 1024 * 1024  # well under both providers' file/request size limits


@dataclass
class BatchOutcome:
    """What an ended batch gave: completions by custom id, and why the others failed."""

    status: str
    completions: dict[str, Completion]
    errors: dict[str, str]


class _BatchAPI:
    """The HTTP calls of one provider's batch protocol, over the client's session."""

    def __init__(self, llm: LLM, session: aiohttp.ClientSession) -> None:
        self.llm = llm
        self.session = session
        self.base = llm.base_urls[0]
        self.secrets = llm.backend.secrets()

    async def _json(self, method: str, url: str, *, raw: bool = False, **kw: Any) -> Any:
        """One API call with retries on 429/5xx/connection errors; the JSON body (or bytes if ``raw``)."""
        for attempt in range(1, self.llm.max_retries + 2):
            try:
                async with self.session.request(method, url, **kw) as resp:
                    data = await resp.read()
                    if 200 <= resp.status < 300:
                        return data if raw else json.loads(data)
                    detail = redact(error_detail(data), self.secrets)
                    if resp.status < 500 and resp.status != 429:
                        raise LLMError(f"batch API {method} {url}: HTTP {resp.status}: {detail}")
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                detail = f"{type(e).__name__}: {e}"
            await asyncio.sleep(min(30.0, self.llm.backoff_base * 2**attempt))
        raise LLMError(f"batch API {method} {url} failed after {self.llm.max_retries + 1} attempts: {detail}")

    def line(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def submit(self, lines: list[dict[str, Any]], keys: list[str]) -> str:
        raise NotImplementedError

    async def recover(self, pending: str) -> str | None:
        return None

    async def poll(self, batch_id: str) -> BatchOutcome | None:
        """None while the batch runs; its outcome once it has ended."""
        raise NotImplementedError


class OpenAIBatchAPI(_BatchAPI):
    def line(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": key, "method": "POST", "url": "/v1/chat/completions", "body": payload}

    async def submit(self, lines: list[dict[str, Any]], keys: list[str]) -> str:
        data = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode()
        form = aiohttp.FormData()
        form.add_field("purpose", "batch")
        form.add_field("file", data, filename="taskforge-batch.jsonl", content_type="application/jsonl")
        body = form()  # multipart; its content type replaces the session's application/json
        up = await self._json(
            "POST", self.base + "/files", data=body, headers={"Content-Type": body.content_type}
        )
        file_id = up["id"]
        journal = self.llm.cache
        assert journal is not None
        journal.batch_submitted(f"pending:{file_id}", self.llm.spec, keys)  # before create: see module doc
        return await self._create(file_id)

    async def _create(self, file_id: str) -> str:
        body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        batch = await self._json("POST", self.base + "/batches", json=body)
        assert self.llm.cache is not None
        self.llm.cache.batch_renamed(f"pending:{file_id}", batch["id"])
        return batch["id"]

    async def recover(self, pending: str) -> str | None:
        """A batch whose upload was recorded but whose creation may not have been: find or create it."""
        file_id = pending.removeprefix("pending:")
        listing = await self._json("GET", self.base + "/batches", params={"limit": "100"})
        for b in listing.get("data", []):
            if b.get("input_file_id") == file_id:
                assert self.llm.cache is not None
                self.llm.cache.batch_renamed(pending, b["id"])
                return b["id"]
        return await self._create(file_id)

    async def poll(self, batch_id: str) -> BatchOutcome | None:
        b = await self._json("GET", f"{self.base}/batches/{batch_id}")
        status = b.get("status")
        if status not in ("completed", "failed", "expired", "cancelled"):
            return None
        out = BatchOutcome(status, {}, {})
        for fid in (b.get("output_file_id"), b.get("error_file_id")):
            if not fid:
                continue
            content = await self._json("GET", f"{self.base}/files/{fid}/content", raw=True)
            for ln in content.decode("utf-8").splitlines():
                if ln.strip():
                    self._read_line(json.loads(ln), out)
        if status == "failed" and not out.completions and not out.errors:
            reason = json.dumps(b.get("errors"))[:300]
            out.errors["*"] = f"batch {batch_id} failed: {reason}"
        return out

    def _read_line(self, rec: dict[str, Any], out: BatchOutcome) -> None:
        cid = rec.get("custom_id", "")
        resp = rec.get("response") or {}
        if resp.get("status_code") == 200:
            try:
                out.completions[cid] = self.llm.backend.parse(resp.get("body"))
                return
            except ProtocolError as e:
                out.errors[cid] = f"invalid response in batch: {e}"
                return
        err = rec.get("error") or (resp.get("body") or {}).get("error") or {}
        code = err.get("code") if isinstance(err, dict) else None
        msg = err.get("message") if isinstance(err, dict) else str(err)
        head = "batch expired" if code == "batch_expired" else f"batch HTTP {resp.get('status_code')}"
        out.errors[cid] = f"{head}: {msg}"


class AnthropicBatchAPI(_BatchAPI):
    def line(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": key, "params": payload}

    async def submit(self, lines: list[dict[str, Any]], keys: list[str]) -> str:
        batch = await self._json("POST", self.base + "/v1/messages/batches", json={"requests": lines})
        assert self.llm.cache is not None
        self.llm.cache.batch_submitted(batch["id"], self.llm.spec, keys)
        return batch["id"]

    async def poll(self, batch_id: str) -> BatchOutcome | None:
        b = await self._json("GET", f"{self.base}/v1/messages/batches/{batch_id}")
        if b.get("processing_status") != "ended":
            return None
        out = BatchOutcome("ended", {}, {})
        content = await self._json("GET", b["results_url"], raw=True)
        for ln in content.decode("utf-8").splitlines():
            if not ln.strip():
                continue
            rec = json.loads(ln)
            cid, result = rec.get("custom_id", ""), rec.get("result") or {}
            kind = result.get("type")
            if kind == "succeeded":
                try:
                    out.completions[cid] = self.llm.backend.parse(result.get("message"))
                except ProtocolError as e:
                    out.errors[cid] = f"invalid response in batch: {e}"
            elif kind == "errored":
                inner = (result.get("error") or {}).get("error") or {}
                out.errors[cid] = f"batch errored: {inner.get('message', inner)}"
            else:
                out.errors[cid] = f"batch {kind}"  # expired / canceled
        return out


def _api(llm: LLM, session: aiohttp.ClientSession) -> _BatchAPI:
    if llm.backend.name == "openai":
        return OpenAIBatchAPI(llm, session)
    if llm.backend.name == "anthropic":
        return AnthropicBatchAPI(llm, session)
    raise LLMError(f"no batch API for {llm.backend.name!r} backends (use openai: or anthropic:)")


def _chunks(keys: list[str], lines: dict[str, dict[str, Any]], limit: int) -> Iterable[list[str]]:
    chunk: list[str] = []
    size = 0
    for k in keys:
        n = len(json.dumps(lines[k])) + 1
        if chunk and (len(chunk) >= limit or size + n > MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(k)
        size += n
    if chunk:
        yield chunk


async def run_batches(
    llm: LLM, requests: Iterable[LLMRequest] | AsyncIterable[LLMRequest]
) -> AsyncIterator[LLMResult]:
    """Answer ``requests`` from the cache, from batches already submitted, or from new batches."""

    if llm.cache is None:
        raise LLMError("batch mode needs the response cache (it records the batch ids)")
    by_key: dict[str, list[LLMRequest]] = {}
    async for req in _aiter(requests):
        key = llm.key_of(req)
        hit = llm.cache.get(key)
        if hit is not None:
            yield llm._from_cache(req, key, hit)
        else:
            by_key.setdefault(key, []).append(req)
    if not by_key:
        return
    api = _api(llm, llm._state().session)
    waiting: dict[str, set[str]] = {}
    for batch_id, keys in llm.cache.open_batches(llm.spec):
        mine = {k for k in keys if k in by_key}
        if mine:
            if batch_id.startswith("pending:"):
                batch_id = await api.recover(batch_id)
            waiting.setdefault(batch_id, set()).update(mine)
            log.info("resuming batch %s (%d requests)", batch_id, len(mine))
    covered = set().union(*waiting.values()) if waiting else set()
    lines = {}
    for key, reqs in by_key.items():
        if key not in covered:
            r = reqs[0]
            payload = llm.backend.payload(r.messages, r.options, r.sample_index, llm.schema_of(r))
            lines[key] = api.line(key, payload)
    keys = list(lines)
    if llm.max_calls is not None:  # a batch's cost is known only at the end: max_calls bounds it up front
        allowed = max(0, llm.max_calls - llm.stats.calls)
        for key in keys[allowed:]:
            for req in by_key[key]:
                yield await llm._finish(req, key, None, _Attempt(head=BUDGET_SPENT), 0, 0.0)
        keys = keys[:allowed]
    for chunk in _chunks(keys, lines, MAX_REQUESTS[llm.backend.name]):
        batch_id = await api.submit([lines[k] for k in chunk], chunk)
        waiting[batch_id] = set(chunk)
        llm.stats.calls += len(chunk)
        log.info("submitted batch %s (%d requests)", batch_id, len(chunk))
    while waiting:
        for batch_id in list(waiting):
            outcome = await api.poll(batch_id)
            if outcome is None:
                continue
            for key in waiting.pop(batch_id):
                c = outcome.completions.get(key)
                error = outcome.errors.get(key) or outcome.errors.get("*") or "missing from batch results"
                attempt = _Attempt(completion=c, status=200 if c else None, head=error if c is None else "")
                first, *same = by_key[key]
                if c is not None:
                    llm.stats.batch_requests += 1
                res = await llm._finish(
                    first, key, c, attempt, 1, 0.0, structured=llm.schema_of(first) is not None,
                    discount=llm.batch_discount,
                )  # fmt: skip
                if c is None:
                    res.error = error  # "batch expired", "batch errored: ...": retried next run
                yield res
                for req in same:  # identical requests: one answer, paid once
                    yield dataclasses.replace(res, request=req, cached=res.ok)
            llm.cache.batch_ended(batch_id, outcome.status)
        if waiting:
            await asyncio.sleep(llm.batch_poll)


__all__ = ["AnthropicBatchAPI", "OpenAIBatchAPI", "run_batches"]
