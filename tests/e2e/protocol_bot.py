"""A participant that speaks the study's wire protocol directly: HTTP form posts for the normal pages and oTree's
live websocket for the rounds (the protocol documented at the top of ``study_app/__init__.py``).

It sees exactly what a browser sees (page HTML, live messages) and nothing else; the test decides its clicks from
the bundle's ground truth, which the bot never gets from the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websockets

LIVE_URL = re.compile(r'data-socket-url="(/live\?[^"]+)"')


@dataclass(frozen=True)
class Shown:
    phase: str
    round: int
    of: int
    target: str
    images: tuple[str, ...]


Policy = Callable[[Shown], int]  # what is shown -> the slot (1-based) to click


class ProtocolBot:
    def __init__(self, base_url: str, start_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.url = start_url
        self.html = ""
        self.received: list[str] = []  # every page and live message, for leak checks
        self.code = ""

    def _open(self, url: str, form: dict[str, str] | None = None) -> None:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        with self.http.open(url, data=data, timeout=60) as resp:
            self.url = resp.geturl()
            self.html = resp.read().decode()
        self.received.append(self.html)
        m = re.search(r"/p/([a-z0-9]+)/", self.url)
        if m:
            self.code = m.group(1)

    @property
    def page(self) -> str:
        m = re.search(r"/p/[a-z0-9]+/[^/]+/([A-Za-z]+)/\d+", self.url)
        return m.group(1) if m else ""

    def start(self) -> None:
        self._open(self.url)

    def submit(self, **form: str) -> None:
        self._open(self.url, form)

    def play_live_page(self, policy: Policy, *, phase: str) -> list[tuple[Shown, int]]:
        """Answer every round of the current live page with ``policy``; then submit the page as its JS does."""
        m = LIVE_URL.search(self.html)
        assert m, f"no live socket on page {self.page}"
        ws_url = "ws" + self.base_url[len("http"):] + m.group(1).replace("&amp;", "&")
        # its own thread: Playwright's sync API may already run an event loop in this one
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            played = pool.submit(asyncio.run, self._play(ws_url, policy, phase)).result()
        self.submit()
        return played

    async def _play(self, ws_url: str, policy: Policy, phase: str) -> list[tuple[Shown, int]]:
        played: list[tuple[Shown, int]] = []
        async with websockets.connect(ws_url) as ws:
            state = await self._call(ws, {"type": "state"})
            while state["type"] == "round":
                shown = Shown(phase, state["round"], state["of"], state["target"], tuple(state["images"]))
                slot = policy(shown)
                reply = await self._call(ws, {"type": "answer", "round": state["round"], "token": state["token"],
                                              "choice": slot, "response_ms": 900 + 10 * state["round"]})
                assert reply["type"] == "ack" and not reply["duplicate"], reply
                played.append((shown, slot))
                state = reply["state"]
            assert state["type"] == "done", state
        return played

    async def _call(self, ws: Any, message: dict[str, Any]) -> dict[str, Any]:
        await ws.send(json.dumps(message))
        while True:
            raw = await asyncio.wait_for(ws.recv(), timeout=60)
            self.received.append(raw)
            data = json.loads(raw)
            assert data.get("otree_success", True) is not False, "the live method raised on the server"
            payload = data.get("live_method_payload")
            if isinstance(payload, dict) and payload.get("type") in ("round", "done", "ack", "error"):
                return payload
