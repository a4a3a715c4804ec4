"""Simulated participants over HTTP + websockets (aiohttp), for bench/study_load.py and the crash test.

* :class:`LiveParticipant` speaks the study app's live protocol (study_app/__init__.py docstring): it walks the
  consent and instruction pages like a browser (form POSTs), then answers rounds over oTree's ``/live`` websocket.
* :class:`BaselineParticipant` plays bench/baseline_app: one page per round, the choice POSTed as a form field.

Both fetch each round's images as a browser would and count image requests that fail (``timing``); an answer
returns when the server has replied (live: the ack; baseline: the next page after the redirect), so the caller
times it.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import aiohttp

_SOCKET_URL = re.compile(r'id="otree-live" data-socket-url="([^"]+)"')
_IMG_SRC = re.compile(r'<img[^>]+src="([^"]+)"')


class ProtocolError(RuntimeError):
    """The server answered something a participant's browser would not expect."""


class _Closed(ProtocolError):
    """The websocket closed under us."""


async def _page_text(r: aiohttp.ClientResponse) -> str:
    """The page a participant was sent, or a ProtocolError naming the request and the server's answer."""
    text = await r.text()
    if r.status != 200:
        raise ProtocolError(f"{r.method} {r.url} -> HTTP {r.status}: {text[:300]}")
    return text


@dataclass
class Timing:
    image_errors: int = 0    # image requests answered with anything but 200
    reconnects: int = 0      # websockets reopened (live participants)


async def _fetch_images(http: aiohttp.ClientSession, page_url: str, urls: list[str], timing: Timing) -> None:
    """GET images as a browser would: distinct URLs, concurrently, relative to the page."""
    async def get(url: str) -> None:
        async with http.get(urljoin(page_url, url)) as r:
            await r.read()
            if r.status != 200:
                timing.image_errors += 1
    await asyncio.gather(*(get(u) for u in dict.fromkeys(urls)))


class LiveParticipant:
    """One participant of the live-method study app."""

    def __init__(self, http: aiohttp.ClientSession, start_url: str) -> None:
        self.http = http
        self.start_url = start_url
        self.page_url = ""
        self.socket_path = ""
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._inbox: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.timing = Timing()

    @property
    def code(self) -> str:
        return self.page_url.split("/p/")[1].split("/")[0]

    async def enter(self, *, consent: bool = True) -> None:
        """Consent and instructions (and nothing else): stops on the first live page (Practice or Rounds)."""
        async with self.http.get(self.start_url) as r:
            await self._page(r)
        while not self.socket_path:
            name = self.page_url.rstrip("/").split("/")[-2]
            form: dict[str, str] = {}
            if name == "Consent":
                form = {"consent": "True" if consent else "False", "prolific_study_id": "",
                        "prolific_session_id": ""}
            async with self.http.post(self.page_url, data=form) as r:
                await self._page(r)

    async def resume(self) -> None:
        """Come back to the study (after a crash, a closed tab): open the participant's page URL again."""
        await self.close()
        async with self.http.get(self.page_url) as r:
            await self._page(r)

    async def _page(self, r: aiohttp.ClientResponse) -> None:
        text = await _page_text(r)
        self.page_url = str(r.url)
        m = _SOCKET_URL.search(text)
        self.socket_path = html.unescape(m.group(1)) if m else ""

    async def connect(self) -> None:
        if not self.socket_path:
            raise ProtocolError(f"{self.page_url} is not a live page")
        ws_url = urljoin(self.page_url, self.socket_path).replace("http://", "ws://", 1)
        await self._stop_reader()
        self.ws = await self.http.ws_connect(ws_url, heartbeat=None, max_msg_size=0)
        self._inbox = asyncio.Queue()
        self._reader = asyncio.create_task(self._read(self.ws, self._inbox))

    @staticmethod
    async def _read(ws: aiohttp.ClientWebSocketResponse, inbox: asyncio.Queue[aiohttp.WSMessage]) -> None:
        """Read all the time, as a browser does: aiohttp answers the server's pings only inside receive(), and
        uvicorn closes a socket whose pong is 20 s late, so a participant thinking longer would be dropped."""
        while True:
            msg = await ws.receive()
            await inbox.put(msg)
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR):
                return

    async def _stop_reader(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None

    async def close(self) -> None:
        await self._stop_reader()
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def send(self, message: dict[str, Any], *, timeout_s: float = 60.0,
                   reconnect: bool = False) -> dict[str, Any]:
        """Send one live message and return the server's reply (its ``live_method_payload``). With ``reconnect``,
        a connection the server closed is reopened once and the message resent, as the page's JS does (the
        server ignores a duplicate answer); ``timing.reconnects`` counts it."""
        try:
            return await self._send_once(message, timeout_s)
        except (aiohttp.ClientConnectionError, ConnectionError, _Closed):
            if not reconnect:
                raise
        self.timing.reconnects += 1
        self.ws = None
        return await self._send_once(message, timeout_s)

    async def _send_once(self, message: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        if self.ws is None or self.ws.closed:
            await self.connect()
        assert self.ws is not None
        await self.ws.send_str(json.dumps(message))
        while True:
            msg = await asyncio.wait_for(self._inbox.get(), timeout_s)
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise _Closed(f"websocket closed or failed: {msg.type} {msg.data!r}")
            data = json.loads(msg.data)
            if not data.get("otree_success", False):
                raise ProtocolError(f"server error in live_method (see the server log): {data}")
            payload: dict[str, Any] = data["live_method_payload"]
            return payload

    async def state(self) -> dict[str, Any]:
        return await self.send({"type": "state"})

    async def answer(self, shown: dict[str, Any], choice: int, response_ms: float = 1500.0, *,
                     reconnect: bool = False) -> dict[str, Any]:
        reply = await self.send({"type": "answer", "round": shown["round"], "token": shown["token"],
                                 "choice": choice, "response_ms": response_ms}, reconnect=reconnect)
        if reply.get("type") != "ack":
            raise ProtocolError(f"answer to round {shown['round']} rejected: {reply}")
        return reply

    async def fetch_images(self, urls: list[str]) -> None:
        await _fetch_images(self.http, self.page_url, urls, self.timing)


class BaselineParticipant:
    """One participant of bench/baseline_app (page per round)."""

    def __init__(self, http: aiohttp.ClientSession, start_url: str) -> None:
        self.http = http
        self.start_url = start_url
        self.page_url = ""
        self.images: list[str] = []
        self.timing = Timing()

    async def enter(self) -> None:
        async with self.http.get(self.start_url) as r:
            await self._page(r)

    async def _page(self, r: aiohttp.ClientResponse) -> None:
        text = await _page_text(r)
        self.page_url = str(r.url)
        self.images = _IMG_SRC.findall(text)

    async def answer(self, choice: int, response_ms: float = 1500.0) -> None:
        async with self.http.post(self.page_url, data={"choice": str(choice), "response_ms": str(response_ms)}) as r:
            await self._page(r)

    async def fetch_images(self) -> None:
        await _fetch_images(self.http, self.page_url, self.images, self.timing)
