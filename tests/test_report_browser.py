"""The report in a real browser: headless Chromium driven over the DevTools protocol.

Checks that the page renders with no console errors or exceptions, that its charts, map and
sample browser are there and work, and that hostile sample text runs no script.
Skips when Chromium is not installed (CI installs Debian's ``chromium``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from taskforge._report import build_report
from taskforge.testing import HashEmbedder, write_fake_run

DEMO_SOURCES = Path(__file__).resolve().parents[1] / "demo" / "sources"
CHROMIUM = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")


class Page:
    """A minimal DevTools-protocol client for one headless Chromium page."""

    def __init__(self, width: int = 1400, height: int = 1000) -> None:
        self.width, self.height = width, height
        self.errors: list[str] = []
        self._id = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._events: dict[str, asyncio.Event] = {}

    async def __aenter__(self) -> Page:
        import aiohttp

        self._tmp = tempfile.mkdtemp(prefix="tf-chromium-")
        self._proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
                "--disable-dev-shm-usage",
                f"--user-data-dir={self._tmp}",
                "--remote-debugging-port=0",
                f"--window-size={self.width},{self.height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        browser_ws = await asyncio.wait_for(asyncio.to_thread(self._read_ws_url), 60)
        port = re.search(r":(\d+)/", browser_ws).group(1)  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession()
        for _ in range(50):
            async with self._session.get(f"http://127.0.0.1:{port}/json/list") as resp:
                pages = [t for t in await resp.json(content_type=None) if t.get("type") == "page"]
            if pages:
                break
            await asyncio.sleep(0.1)
        self._ws = await self._session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        for domain in ("Runtime", "Log", "Page"):
            await self.send(f"{domain}.enable")
        return self

    def _read_ws_url(self) -> str:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                threading_drain(self._proc.stderr)
                return m.group(1)
        raise RuntimeError("chromium exited before opening the DevTools port")

    async def __aexit__(self, *exc: object) -> None:
        self._reader.cancel()
        await self._ws.close()
        await self._session.close()
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        shutil.rmtree(self._tmp, ignore_errors=True)

    async def _read(self) -> None:
        async for msg in self._ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
                continue
            method, params = data.get("method"), data.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                self.errors.append(
                    "console: "
                    + " ".join(str(a.get("value", a.get("description"))) for a in params.get("args", []))
                )
            elif method == "Runtime.exceptionThrown":
                d = params.get("exceptionDetails", {})
                self.errors.append(
                    "exception: " + str(d.get("exception", {}).get("description") or d.get("text"))
                )
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                self.errors.append("log: " + params["entry"].get("text", ""))
            elif method == "Page.javascriptDialogOpening":
                self.errors.append("dialog: " + params.get("message", ""))
                await self.send("Page.handleJavaScriptDialog", accept=True, wait=False)
            if method in self._events:
                self._events[method].set()

    async def send(self, method: str, wait: bool = True, **params: Any) -> dict[str, Any]:
        self._id += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._id] = fut
        await self._ws.send_str(json.dumps({"id": self._id, "method": method, "params": params}))
        if not wait:
            return {}
        res = await asyncio.wait_for(fut, 60)
        if "error" in res:
            raise RuntimeError(f"{method}: {res['error']}")
        return res.get("result", {})

    async def goto(self, url: str) -> None:
        loaded = self._events["Page.loadEventFired"] = asyncio.Event()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), 60)

    async def eval(self, expr: str) -> Any:
        res = await self.send("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expr}: {res['exceptionDetails']}")
        return res["result"].get("value")

    async def screenshot(self, path: Path, top: int = 0, height: int | None = None) -> None:
        """PNG of the page from ``top`` down ``height`` pixels (default: to the end)."""
        if height is None:
            height = min(await self.eval("document.documentElement.scrollHeight") - top, 16000)
        clip = {"x": 0, "y": top, "width": self.width, "height": height, "scale": 1}
        res = await self.send("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(res["data"]))


def threading_drain(stream: Any) -> None:
    """Keep reading chromium's stderr in the background so it never blocks on a full pipe."""
    import threading

    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


async def _inspect(html: Path, shot: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    async with Page() as page:
        await page.goto(html.resolve().as_uri())
        counts = await page.eval(
            """({
              svgCharts: document.querySelectorAll('svg.chart').length,
              funnelBars: document.querySelectorAll('#funnel svg.chart rect.bar').length,
              histograms: document.querySelectorAll('#retrieval .hists svg.chart').length,
              mapPoints: document.querySelectorAll('#map-box circle').length,
              legend: document.querySelectorAll('#map-box .legend button[data-key]').length,
              cards: document.querySelectorAll('#browser article.sample').length,
              pairs: document.querySelectorAll('#browser article.sample .pair .pane').length,
              search: !!document.querySelector('#browser input[type=search]'),
              selects: [...document.querySelectorAll('#browser select')].map(s => s.dataset.filter),
              count: document.querySelector('#browser .count').textContent,
              evalSection: !!document.getElementById('eval'),
              injected: document.querySelectorAll('script').length,
              pwned: typeof window.__pwned !== 'undefined'
            })"""
        )
        # the map can be coloured by source, and a legend entry hides its points
        counts["sourceMode"] = await page.eval(
            """(() => {
              document.querySelector('#map-box [data-mode=source]').click();
              const entries = document.querySelectorAll('#map-box .legend button[data-key^="s:"]');
              entries[0].click();
              const hidden = [...document.querySelectorAll('#map-box circle')].filter(c => c.style.display === 'none');
              return [entries.length, hidden.length];
            })()"""
        )
        # the browser works: search narrows, a label filter applies, the rejects tab shows reasons
        counts["afterSearch"] = await page.eval(
            """(async () => {
              const s = document.querySelector('#browser input[type=search]');
              s.value = 'alert(1)'; s.dispatchEvent(new Event('input'));
              await new Promise(r => setTimeout(r, 400));
              return document.querySelectorAll('#browser article.sample').length;
            })()"""
        )
        counts["nastyText"] = await page.eval(
            "document.querySelector('#browser article.sample dd').textContent"
        )
        counts["rejectCards"] = await page.eval(
            """(async () => {
              const s = document.querySelector('#browser input[type=search]');
              s.value = ''; s.dispatchEvent(new Event('input'));
              await new Promise(r => setTimeout(r, 400));
              document.querySelector('#browser [data-tab=rejects]').click();
              return [document.querySelectorAll('#browser article.sample.rej').length,
                      document.querySelectorAll('#browser .reason').length];
            })()"""
        )
        counts["labelFiltered"] = await page.eval(
            """(() => {
              document.querySelector('#browser [data-tab=kept]').click();
              const sel = document.querySelector('#browser select[data-filter=label]');
              sel.value = 'not_entailment'; sel.dispatchEvent(new Event('change'));
              return [...document.querySelectorAll('#browser article.sample .badge')].map(b => b.textContent);
            })()"""
        )
        if shot is not None:
            await page.eval(
                "document.querySelector('#browser select[data-filter=label]').value = '';"
                "document.querySelector('#browser select[data-filter=label]').dispatchEvent(new Event('change'))"
            )
            await page.screenshot(shot)
        return counts, page.errors


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    run = write_fake_run(tmp_path / "run", sources=DEMO_SOURCES, n_items=300)
    html = build_report(run, embedder=HashEmbedder(64), projection="pca")
    shot = Path(os.environ["TASKFORGE_REPORT_SHOT"]) if os.environ.get("TASKFORGE_REPORT_SHOT") else None
    counts, errors = asyncio.run(_inspect(html, shot))
    assert errors == []
    assert counts["svgCharts"] >= 6  # funnel, sources, 4 score histograms, labels, eval
    assert counts["funnelBars"] >= 3
    assert counts["histograms"] == 4
    assert counts["mapPoints"] > 300 and counts["legend"] == 3
    assert counts["sourceMode"][0] == 5 and counts["sourceMode"][1] > 50  # 5 sources; snli_dev hidden
    assert counts["cards"] == 20 and counts["pairs"] == 40  # one page, sample beside its row
    assert counts["search"] and {"source", "label", "filter"} <= set(counts["selects"])
    assert counts["count"].startswith("Showing 1–20 of ")
    assert counts["evalSection"]
    assert counts["injected"] == 3  # the two JSON blobs and the page's own script; none from data
    assert not counts["pwned"]
    assert counts["afterSearch"] == 1
    assert "</script><script>alert(1)</script>" in counts["nastyText"]
    assert counts["rejectCards"][0] > 0 and counts["rejectCards"][0] == counts["rejectCards"][1]
    assert set(counts["labelFiltered"]) == {"not_entailment"}


def test_minimal_run_renders_in_chromium(tmp_path: Path) -> None:
    """Only retrieval has run: no samples, rejects, stats or eval; no embedder."""
    run = write_fake_run(tmp_path / "run", sources=DEMO_SOURCES, n_items=40, with_eval=False)
    for p in ("transform", "filter", "eval"):
        shutil.rmtree(run / p, ignore_errors=True)
    html = build_report(run, embedder=False)
    counts = asyncio.run(_inspect_minimal(html))
    assert counts == {"cards": 0, "empty": True, "eval": False, "hist": 4}


async def _inspect_minimal(html: Path) -> dict[str, Any]:
    async with Page() as page:
        await page.goto(html.resolve().as_uri())
        out = await page.eval(
            """({cards: document.querySelectorAll('#browser article.sample').length,
                 empty: document.querySelector('#browser .empty').textContent === 'None in this run.',
                 eval: !!document.getElementById('eval'),
                 hist: document.querySelectorAll('#retrieval .hists svg.chart').length})"""
        )
        assert page.errors == []
        return out
