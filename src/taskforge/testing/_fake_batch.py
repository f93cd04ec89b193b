"""The batch protocols of the fake server: OpenAI (files + batches) and Anthropic (message batches).

OpenAI: ``POST /v1/files`` (multipart, ``purpose=batch``), ``GET /v1/files/{id}/content``,
``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET /v1/batches``, ``POST /v1/batches/{id}/cancel``.
Anthropic: ``POST /v1/messages/batches``, ``GET /v1/messages/batches/{id}``,
``GET /v1/messages/batches/{id}/results``.

A batch is ``in_progress`` until ``delay`` seconds after creation, then its requests are answered
by the server's responder in one go (``processed`` counts each billed answer, so tests can check
nothing is paid twice); ``fail_rate`` of them error, and with ``expire`` only the first half is
answered and the rest expire, as at the end of a real completion window.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Answer = Callable[[Any, dict[str, Any]], dict[str, Any]]  # (server, request body) -> response body


@dataclass
class FakeBatch:
    id: str
    protocol: str  # "openai" | "anthropic"
    lines: list[dict[str, Any]]
    created: float
    input_file_id: str | None = None
    status: str = "in_progress"
    results: list[dict[str, Any]] = field(
        default_factory=list
    )  # per line: {"custom_id", "ok", "body"|"error"|"expired"}
    output_file_id: str | None = None
    error_file_id: str | None = None
    cancelled: bool = False


class BatchState:
    """Files and batches of one fake server, created through its HTTP routes."""

    def __init__(
        self, server: Any, answers: dict[str, Answer], *, delay: float, fail_rate: float, expire: bool
    ) -> None:
        self.server = server
        self.answers = answers  # protocol -> the server's own answer builder
        self.delay = delay
        self.fail_rate = fail_rate
        self.expire = expire
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.created = 0  # batches created
        self.processed = 0  # requests answered (what a provider would bill)
        self.polls = 0
        self._rng = random.Random(7)

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/v1/files", self._upload)
        r.add_get("/v1/files/{id}/content", self._file_content)
        r.add_post("/v1/batches", self._openai_create)
        r.add_get("/v1/batches", self._openai_list)
        r.add_get("/v1/batches/{id}", self._openai_get)
        r.add_post("/v1/batches/{id}/cancel", self._openai_cancel)
        r.add_post("/v1/messages/batches", self._anthropic_create)
        r.add_get("/v1/messages/batches/{id}", self._anthropic_get)
        r.add_get("/v1/messages/batches/{id}/results", self._anthropic_results)

    # -- processing -------------------------------------------------------------------------
    def _advance(self, batch: FakeBatch) -> None:
        """Finish a batch whose time has come: answer (or fail, or expire) each request once."""
        if batch.status != "in_progress" or time.time() < batch.created + self.delay:
            return
        half = len(batch.lines) // 2
        for i, line in enumerate(batch.lines):
            cid = line.get("custom_id")
            if (self.expire and i >= half) or batch.cancelled:
                batch.results.append({"custom_id": cid, "expired": True})
                continue
            if self.fail_rate and self._rng.random() < self.fail_rate:
                batch.results.append({"custom_id": cid, "ok": False, "error": "internal error (fake batch)"})
                continue
            body = line["body"] if batch.protocol == "openai" else line["params"]
            answer = self.answers[batch.protocol](self.server, body)
            self.processed += 1
            batch.results.append({"custom_id": cid, "ok": True, "body": answer})
        batch.status = "cancelled" if batch.cancelled else ("expired" if self.expire else "completed")
        if batch.protocol == "openai":
            ok = [r for r in batch.results if r.get("ok")]
            bad = [r for r in batch.results if not r.get("ok")]
            if ok:
                batch.output_file_id = self._store_file(
                    [
                        {"id": f"req_{i}", "custom_id": r["custom_id"], "error": None,
                         "response": {"status_code": 200, "request_id": f"r{i}", "body": r["body"]}}
                        for i, r in enumerate(ok)
                    ]
                )  # fmt: skip
            if bad:
                batch.error_file_id = self._store_file([_openai_error_line(i, r) for i, r in enumerate(bad)])

    def _store_file(self, lines: list[dict[str, Any]]) -> str:
        fid = f"file-{len(self.files) + 1:06d}"
        self.files[fid] = "".join(json.dumps(x) + "\n" for x in lines).encode()
        return fid

    def _get(self, request: web.Request, protocol: str) -> FakeBatch:
        batch = self.batches.get(request.match_info["id"])
        if batch is None or batch.protocol != protocol:
            raise web.HTTPNotFound(text=json.dumps({"error": {"message": "no such batch"}}))
        self.polls += 1
        self._advance(batch)
        return batch

    # -- OpenAI -----------------------------------------------------------------------------
    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if form.get("purpose") != "batch" or upload is None or not hasattr(upload, "file"):
            return _err(400, "multipart fields 'purpose=batch' and 'file' are required")
        fid = f"file-{len(self.files) + 1:06d}"
        self.files[fid] = upload.file.read()
        return web.json_response(
            {"id": fid, "object": "file", "purpose": "batch", "bytes": len(self.files[fid])}
        )

    async def _file_content(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["id"])
        if data is None:
            return _err(404, "no such file")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _openai_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        data = self.files.get(body.get("input_file_id", ""))
        if data is None or body.get("endpoint") != "/v1/chat/completions":
            return _err(400, "input_file_id of an uploaded file and endpoint /v1/chat/completions required")
        try:
            lines = [json.loads(x) for x in data.decode().splitlines() if x.strip()]
        except ValueError:
            return _err(400, "input file is not JSONL")
        if any(ln.get("method") != "POST" or ln.get("url") != "/v1/chat/completions" for ln in lines):
            return _err(400, "each line needs method POST and url /v1/chat/completions")
        ids = [ln.get("custom_id") for ln in lines]
        if len(set(ids)) != len(ids):
            return _err(400, "duplicate custom_id")
        self.created += 1
        batch = FakeBatch(f"batch_{self.created:06d}", "openai", lines, time.time(), body["input_file_id"])
        self.batches[batch.id] = batch
        return web.json_response(self._openai_view(batch))

    async def _openai_list(self, request: web.Request) -> web.Response:
        views = [self._openai_view(b) for b in self.batches.values() if b.protocol == "openai"]
        return web.json_response({"object": "list", "data": views[::-1], "has_more": False})

    async def _openai_get(self, request: web.Request) -> web.Response:
        return web.json_response(self._openai_view(self._get(request, "openai")))

    async def _openai_cancel(self, request: web.Request) -> web.Response:
        batch = self._get(request, "openai")
        batch.cancelled = True
        batch.created = 0.0  # cancelling ends it at the next look
        return web.json_response(self._openai_view(batch))

    def _openai_view(self, b: FakeBatch) -> dict[str, Any]:
        done = sum(1 for r in b.results if r.get("ok"))
        return {
            "id": b.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "input_file_id": b.input_file_id,
            "completion_window": "24h",
            "status": b.status,
            "output_file_id": b.output_file_id,
            "error_file_id": b.error_file_id,
            "created_at": int(b.created),
            "request_counts": {"total": len(b.lines), "completed": done, "failed": len(b.results) - done},
        }

    # -- Anthropic --------------------------------------------------------------------------
    async def _anthropic_create(self, request: web.Request) -> web.Response:
        if "anthropic-version" not in request.headers:
            return _err(400, "anthropic-version header is required")
        body = await request.json()
        reqs = body.get("requests")
        if not isinstance(reqs, list) or not reqs:
            return _err(400, "requests must be a non-empty list")
        for r in reqs:
            params = r.get("params") or {}
            if not isinstance(params.get("max_tokens"), int) or not params.get("messages"):
                return _err(400, "each request needs params with messages and max_tokens")
        self.created += 1
        batch = FakeBatch(f"msgbatch_{self.created:06d}", "anthropic", reqs, time.time())
        self.batches[batch.id] = batch
        return web.json_response(self._anthropic_view(batch, request))

    async def _anthropic_get(self, request: web.Request) -> web.Response:
        return web.json_response(self._anthropic_view(self._get(request, "anthropic"), request))

    async def _anthropic_results(self, request: web.Request) -> web.Response:
        batch = self._get(request, "anthropic")
        if batch.status == "in_progress":
            return _err(400, "batch has not ended")
        lines = []
        for r in batch.results:
            if r.get("expired"):
                result: dict[str, Any] = {"type": "expired"}
            elif r["ok"]:
                result = {"type": "succeeded", "message": r["body"]}
            else:
                result = {
                    "type": "errored",
                    "error": {"type": "error", "error": {"type": "api_error", "message": r["error"]}},
                }
            lines.append({"custom_id": r["custom_id"], "result": result})
        return web.Response(
            body="".join(json.dumps(x) + "\n" for x in lines), content_type="application/binary"
        )

    def _anthropic_view(self, b: FakeBatch, request: web.Request) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if b.status == "in_progress":
            counts["processing"] = len(b.lines)
        for r in b.results:
            counts["expired" if r.get("expired") else "succeeded" if r["ok"] else "errored"] += 1
        ended = b.status != "in_progress"
        base = f"{request.scheme}://{request.host}"
        return {
            "id": b.id,
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(b.created)),
            "results_url": f"{base}/v1/messages/batches/{b.id}/results" if ended else None,
        }


def _openai_error_line(i: int, r: dict[str, Any]) -> dict[str, Any]:
    if r.get("expired"):
        return {"id": f"err_{i}", "custom_id": r["custom_id"], "response": None,
                "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}}  # fmt: skip
    return {"id": f"err_{i}", "custom_id": r["custom_id"], "error": None,
            "response": {"status_code": 500, "request_id": f"e{i}", "body": {"error": {"message": r["error"]}}}}  # fmt: skip


def _err(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "fake_error"}}, status=status)


__all__ = ["BatchState", "FakeBatch"]
