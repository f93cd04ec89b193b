"""What counts as retryable, how long to wait, and how a failure is described."""

from __future__ import annotations

import dataclasses
import email.utils
import json
import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskforge._llm._backends import Completion


@dataclasses.dataclass(slots=True)
class Attempt:
    """The outcome of one HTTP attempt."""

    completion: Completion | None = None
    status: int | None = None
    head: str = ""  # "HTTP 500", "timeout (60s)", "connection error", "invalid JSON response"
    detail: str = ""
    retryable: bool = False
    retry_after: float | None = None


RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 529})


def is_retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def retry_after_seconds(headers: Mapping[str, str], *, cap: float = 120.0) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``Retry-After`` seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return min(cap, max(0.0, float(ms) / 1000))
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return min(cap, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(cap, max(0.0, when.timestamp() - time.time()))


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with jitter for the ``attempt``-th retry (1-based): uniform in [d/2, d]."""
    d = min(cap, base * 2 ** (attempt - 1))
    return rng.uniform(d / 2, d)


def error_detail(body: bytes, limit: int = 300) -> str:
    """The server's error message if the body has one, else the start of the body."""
    try:
        data = json.loads(body)
        err = data.get("error") if isinstance(data, dict) else None
        msg = err.get("message") if isinstance(err, dict) else err
        if msg:
            return str(msg)[:limit]
    except (ValueError, AttributeError):
        pass
    text = body.decode("utf-8", "replace").strip()
    return text[:limit] + ("..." if len(text) > limit else "")


def redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


__all__ = [
    "RETRY_STATUSES",
    "Attempt",
    "backoff",
    "error_detail",
    "is_retryable_status",
    "redact",
    "retry_after_seconds",
]
