"""Headless Chromium driven over the DevTools protocol, for tests of the app's pages.

Debian's ``chromium`` package; absent, the calling test is skipped (or, with
``CI_REQUIRE_ALL=1``, failed) by ``require_or_skip``.  No page under test may
fetch anything from outside: the browser runs with background networking off.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import require_or_skip

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class DevTools:
    """A minimal Chrome DevTools Protocol client over one browser websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                self.pending.pop(data["id"]).set_result(data)
            else:
                await self.events.put(data)

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self.next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self.ws.send_json(message)
        reply = await asyncio.wait_for(future, 30)
        assert "error" not in reply, reply
        return reply["result"]

    async def event(self, method: str) -> dict[str, Any]:
        while True:
            data = await asyncio.wait_for(self.events.get(), 30)
            if data["method"] == method:
                return data["params"]

    async def evaluate(self, session: str, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session,
        )
        return result["result"].get("value")


@asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[tuple[DevTools, str]]:
    """Headless chromium with a fresh profile; yields DevTools and an attached page session."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    require_or_skip(executable is not None, "chromium is not installed")
    assert executable is not None
    process = await asyncio.create_subprocess_exec(
        executable,
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    drain: asyncio.Task[None] | None = None
    try:
        ws_url = await asyncio.wait_for(_devtools_url(process.stderr), 30)
        # Chromium keeps logging to stderr; keep reading so it never blocks on a full pipe.
        drain = asyncio.create_task(_drain(process.stderr))
        async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
            tools = DevTools(ws)
            target = await tools.send("Target.createTarget", {"url": "about:blank"})
            attached = await tools.send(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )
            page = attached["sessionId"]
            await tools.send("Page.enable", session=page)
            yield tools, page
            tools.reader.cancel()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        if drain is not None:
            drain.cancel()
            with suppress(asyncio.CancelledError):
                await drain


async def _devtools_url(stream: asyncio.StreamReader) -> str:
    while line := await stream.readline():
        text = line.decode(errors="replace").strip()
        if text.startswith("DevTools listening on "):
            return text.rsplit(" ", 1)[1]
    raise AssertionError("chromium exited before opening its DevTools port")


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.read(65536):
        pass


async def navigate(tools: DevTools, page: str, url: str) -> None:
    await tools.send("Page.navigate", {"url": url}, page)
    await tools.event("Page.loadEventFired")


async def click(tools: DevTools, page: str, selector: str) -> None:
    """A real mouse click in the middle of the element (scrolled into view), as a person would."""
    box = await tools.evaluate(
        page,
        f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
        " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
        " return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()",
    )
    for kind in ("mousePressed", "mouseReleased"):
        await tools.send(
            "Input.dispatchMouseEvent",
            {"type": kind, "x": box["x"], "y": box["y"], "button": "left", "clickCount": 1},
            page,
        )


async def screenshot(tools: DevTools, page: str) -> bytes:
    """The whole page as PNG bytes."""
    shot = await tools.send(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, page
    )
    return base64.b64decode(shot["data"])
