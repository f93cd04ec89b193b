"""A local stand-in for the Hugging Face Hub's upload API: a real HTTP server, for push tests offline.

It speaks the calls ``huggingface_hub`` makes to publish a dataset with ``create_repo`` and
``create_commit``: create the repo, validate the card's YAML, ask how to upload each file
(always "regular": the bytes travel inside the commit), and commit. Committed files are kept
per repo (``server.repos["user/name"]["README.md"] -> bytes``); ``write_repo`` puts one on disk
so a test can ``datasets.load_dataset`` what was pushed. A wrong token gets the Hub's 401.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

_REPO = r"/api/(?P<type>datasets|models|spaces)/(?P<repo>[^/]+/[^/]+)"


class FakeHubServer:
    """``with FakeHubServer(token="hf_x") as hub:`` then point ``HF_ENDPOINT`` at ``hub.url``."""

    def __init__(self, *, token: str | None = "hf_test_token", host: str = "127.0.0.1") -> None:
        self.token = token
        self.repos: dict[str, dict[str, bytes]] = {}
        self.repo_types: dict[str, str] = {}
        self.commits: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer((host, 0), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeHubServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def write_repo(self, repo_id: str, folder: str | Path) -> Path:
        """The files committed to ``repo_id``, written under ``folder``."""
        root = Path(folder)
        for path, data in self.repos[repo_id].items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(data)
        return root

    # -- the API ---------------------------------------------------------------------------
    def answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        self.calls.append((method, path))
        if self.token and headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"error": "Invalid credentials in Authorization header"}
        if method == "POST" and path == "/api/repos/create":
            req = json.loads(body)
            repo_id = f"{req.get('organization')}/{req['name']}"
            self.repos.setdefault(repo_id, {})
            self.repo_types[repo_id] = req.get("type") or "model"
            return 200, {"url": f"{self.url}/{req.get('type', 'model')}s/{repo_id}", "name": repo_id}
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate(json.loads(body).get("content", ""))
        m = re.fullmatch(_REPO + r"/preupload/(?P<rev>[^/]+)", path)
        if method == "POST" and m:
            files = json.loads(body)["files"]
            modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            return 200, {"files": modes, "commitOid": "0" * 40}
        m = re.fullmatch(_REPO + r"/commit/(?P<rev>[^/]+)", path)
        if method == "POST" and m:
            return self._commit(m.group("repo"), body)
        return 404, {"error": f"no route {method} {path}"}

    def _validate(self, content: str) -> tuple[int, Any]:
        """The checks the Hub makes on a card's metadata that a dataset's loading depends on."""
        errors = []
        head = content.split("---", 2)
        try:
            meta = yaml.safe_load(head[1]) if content.startswith("---") and len(head) == 3 else {}
        except yaml.YAMLError as e:
            return 400, {"errors": [{"message": f"invalid YAML: {e}"}]}
        for cfg in (meta or {}).get("configs") or []:
            if not cfg.get("config_name") or not cfg.get("data_files"):
                errors.append({"message": f"configs entry needs config_name and data_files: {cfg}"})
        return (400, {"errors": errors}) if errors else (200, {"errors": [], "warnings": []})

    def _commit(self, repo_id: str, body: bytes) -> tuple[int, Any]:
        if repo_id not in self.repos:
            return 404, {"error": f"Repository not found: {repo_id}"}
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next((x["value"] for x in lines if x["key"] == "header"), {})
        added = []
        for x in lines:
            if x["key"] == "file":
                value = x["value"]
                self.repos[repo_id][value["path"]] = base64.b64decode(value["content"])
                added.append(value["path"])
        oid = f"{len(self.commits) + 1:040x}"
        self.commits.append({"repo": repo_id, "summary": header.get("summary"), "files": added, "oid": oid})
        kind = self.repo_types.get(repo_id, "model")
        return 200, {"commitUrl": f"{self.url}/{kind}s/{repo_id}/commit/{oid}", "commitOid": oid}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status, payload = hub.answer(self.command, self.path.split("?")[0], self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _reply

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        return Handler


__all__ = ["FakeHubServer"]
