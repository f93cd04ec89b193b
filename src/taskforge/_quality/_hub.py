"""``export --push-to-hub REPO``: publish an export folder as a Hugging Face dataset repository.

One commit with the card and the data files the card's ``configs:`` name (plus ``data.jsonl``);
``hf/`` (a local ``save_to_disk`` copy of the same rows) stays home. The token and the endpoint
are huggingface_hub's own (``HF_TOKEN`` or ``hf auth login``; ``HF_ENDPOINT``), so a private Hub
or a test server works the same way.
"""

from __future__ import annotations

from pathlib import Path

from taskforge._errors import InputError, StageError, UsageError

UPLOADED = ("README.md", "data.jsonl", "chat.jsonl", "data/*", "chat/*")


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    token: str | None = None,
    endpoint: str | None = None,
    message: str = "Upload dataset made with taskforge",
) -> str:
    """Create (or reuse) the dataset repo ``repo_id`` and commit the export in ``folder``; its URL."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    root = Path(folder)
    if not (root / "README.md").is_file():
        raise InputError(f"{root}: not an export folder (no README.md); run `taskforge export` first")
    if "/" not in repo_id.strip("/"):
        raise UsageError(f"--push-to-hub takes NAMESPACE/NAME (your user or organisation), got {repo_id!r}")
    files = sorted({p for pattern in UPLOADED for p in root.glob(pattern) if p.is_file()})
    api = HfApi(endpoint=endpoint, token=token)
    try:
        url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.create_commit(
            repo_id,
            [CommitOperationAdd(p.relative_to(root).as_posix(), str(p)) for p in files],
            commit_message=message,
            repo_type="dataset",
        )
    except OfflineModeIsEnabled:
        raise UsageError("push-to-hub: HF_HUB_OFFLINE is set; unset it to reach the Hub") from None
    except HfHubHTTPError as e:
        status = e.response.status_code if e.response is not None else None
        hint = {
            401: "the Hub refused the token: log in with `hf auth login` or set HF_TOKEN",
            403: "the token may not write to this namespace",
        }.get(status or 0, "")
        first = str(e).splitlines()[0]
        raise StageError(f"push-to-hub {repo_id}: {first}" + (f" ({hint})" if hint else "")) from None
    except Exception as e:
        if isinstance(e, OSError) or type(e).__module__.split(".")[0] in _HTTP_LIBRARIES:  # no route
            raise StageError(f"push-to-hub {repo_id}: cannot reach {api.endpoint} ({e})") from None
        raise
    return str(url)


_HTTP_LIBRARIES = ("httpx", "httpx2", "requests", "urllib3")  # huggingface_hub's transport, by version


__all__ = ["UPLOADED", "push_to_hub"]
