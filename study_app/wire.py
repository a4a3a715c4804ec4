"""A participant of the study over the wire, as a browser speaks to the server: pages over HTTP (form posts), rounds
over oTree's live websocket (the protocol described at the top of ``study_app/live.py``). It sees exactly what a browser
sees (pages, live messages) and nothing else.

One client for everything that plays the study without a browser: ``python -m study_app.rehearse`` (a dress
rehearsal against a deployment), the load benchmark (bench/study_load.py), and the crash, dynamic-allocation and
end-to-end tests.

* The rules (pure functions, no I/O): where a page's live socket is (:func:`socket_path`, :func:`socket_url`),
  what a live frame says (:func:`live_reply`: oTree's ``otree_success: false`` is the live method failing on the
  server, as in oTree's live.js; any other payload must be one of the protocol's server messages), what a round
  showed (:class:`Shown`, the one type for it), and the answer message (:func:`answer_message`).
* :class:`Participant` (asyncio, aiohttp): one participant; many share one ``aiohttp.ClientSession``.
* :class:`BlockingParticipant`: the same participant for synchronous callers (tests that also drive Playwright's
  sync API); it runs a :class:`Participant` on an event loop in its own thread.

``allowed_hosts`` (optional): the hosts a participant may send requests to (redirects and images included);
anything else raises :class:`HostRefused` before a byte is sent there.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import threading
from collections.abc import Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp

SERVER_TYPES = ("round", "done", "paused", "ack", "error")   # what the server sends (the PROTOCOL)
STATE: dict[str, Any] = {"type": "state"}
_LIVE_SCRIPT = re.compile(r'<script\b[^>]*\bid="otree-live"[^>]*>')
_SOCKET_ATTR = re.compile(r'\bdata-socket-url="([^"]*)"')
_PAGE = re.compile(r"/p/([a-z0-9]+)/[^/]+/([A-Za-z]+)/\d+")
_REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10


class ProtocolError(RuntimeError):
    """The server answered something a participant's browser would not expect (one line: what and where)."""


class LiveMethodFailed(ProtocolError):
    """The server's live method raised (oTree sent ``otree_success: false``; the server log has the traceback)."""


class RateLimited(ProtocolError):
    """HTTP 429: the front end (deploy/nginx.conf.template limits room and join entries per client address) asks to
    come back later; ``retry_after_s`` is its Retry-After header when it sent one."""

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class HostRefused(ProtocolError):
    """A request (a redirect, an image) would go to a host the caller did not allow."""


class _Closed(ProtocolError):
    """The websocket closed under us."""


# ------------------------------------------------------------------------------------------------- the rules
@dataclass(frozen=True)
class Shown:
    """What one round showed a participant: the live ``round`` message, or what a browser test read off the
    screen (which has no token and no preload list)."""

    phase: str                    # "practice" | "main"
    round: int
    of: int
    target: str                   # image URLs, as sent
    images: tuple[str, ...]       # slot order: slot s is images[s - 1]
    token: str = ""
    preload: tuple[str, ...] = ()

    @classmethod
    def of_message(cls, message: Mapping[str, Any]) -> "Shown":
        if message.get("type") != "round":
            raise ProtocolError(f"not a round message: {message}")
        try:
            return cls(str(message["phase"]), int(message["round"]), int(message["of"]), str(message["target"]),
                       tuple(message["images"]), str(message["token"]), tuple(message.get("preload", ())))
        except (KeyError, TypeError, ValueError):
            raise ProtocolError(f"malformed round message: {message}") from None


Policy = Callable[[Shown], int]   # what a round showed -> the slot (1-based) to click


def answer_message(shown: Shown, choice: int, response_ms: float) -> dict[str, Any]:
    return {"type": "answer", "round": shown.round, "token": shown.token, "choice": choice,
            "response_ms": response_ms}


def socket_path(page: str) -> str:
    """The live socket path of a page (its ``#otree-live`` script's ``data-socket-url``, HTML-unescaped); '' when
    the page has none (not a live page)."""
    tag = _LIVE_SCRIPT.search(page)
    m = _SOCKET_ATTR.search(tag.group(0)) if tag else None
    return html.unescape(m.group(1)) if m else ""


def socket_url(page_url: str, path: str) -> str:
    """ws:// (or wss://) URL of a socket path, relative to the page that named it."""
    url = urljoin(page_url, path)
    return "ws" + url[len("http"):] if url.startswith(("http://", "https://")) else url


def participant_code(page_url: str) -> str:
    m = _PAGE.search(page_url)
    return m.group(1) if m else ""


def page_name(page_url: str) -> str:
    """The oTree page a URL shows (``Consent``, ``Rounds``, ...); '' when it is not a participant page."""
    m = _PAGE.search(page_url)
    return m.group(2) if m else ""


def live_reply(frame: str) -> dict[str, Any]:
    """The server message in one live websocket frame, read as oTree's live.js reads it."""
    try:
        data = json.loads(frame)
    except ValueError:
        raise ProtocolError(f"live frame is not JSON: {frame[:200]!r}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"live frame is not an object: {frame[:200]!r}")
    if data.get("otree_success") is False:
        raise LiveMethodFailed("the live method raised on the server (see the server log)")
    payload = data.get("live_method_payload")
    if not isinstance(payload, dict) or payload.get("type") not in SERVER_TYPES:
        raise ProtocolError(f"unexpected live message: {frame[:300]}")
    return payload


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


# ------------------------------------------------------------------------------------------------- asyncio
@dataclass
class Timing:
    image_errors: int = 0    # image requests answered with anything but 200
    reconnects: int = 0      # websockets reopened


class Participant:
    """One participant. ``record``: keep every page and live frame received in ``received`` (leak checks)."""

    def __init__(self, http: aiohttp.ClientSession, start_url: str, *, record: bool = False,
                 allowed_hosts: Collection[str] | None = None, timeout_s: float = 60.0) -> None:
        self.http = http
        self.start_url = start_url
        self.page_url = ""
        self.html = ""
        self.socket_path = ""
        self.timeout_s = timeout_s
        self.allowed_hosts = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.received: list[str] | None = [] if record else None
        self.timing = Timing()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self._inbox: asyncio.Queue[aiohttp.WSMessage] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    @property
    def code(self) -> str:
        return participant_code(self.page_url)

    @property
    def page(self) -> str:
        return page_name(self.page_url)

    # -- pages ----------------------------------------------------------------------------------------
    def _check_host(self, url: str) -> None:
        if self.allowed_hosts is not None and host_of(url) not in self.allowed_hosts:
            raise HostRefused(f"refusing to contact {host_of(url) or url!r}: not an allowed host "
                              f"({', '.join(sorted(self.allowed_hosts))})")

    async def _load(self, method: str, url: str, form: Mapping[str, str] | None = None) -> None:
        """Request a page, following redirects (each checked against ``allowed_hosts``), and keep it."""
        for _ in range(MAX_REDIRECTS + 1):
            self._check_host(url)
            async with self.http.request(method, url, data=form, allow_redirects=False) as r:
                text = await r.text()
                if r.status in _REDIRECTS and "Location" in r.headers:
                    url = urljoin(str(r.url), r.headers["Location"])
                    if r.status in (301, 302, 303):
                        method, form = "GET", None
                    continue
                if r.status == 429:
                    after = r.headers.get("Retry-After", "")
                    raise RateLimited(f"{method} {r.url} -> HTTP 429 (rate limited)",
                                      float(after) if after.isdigit() else None)
                if r.status != 200:
                    raise ProtocolError(f"{method} {r.url} -> HTTP {r.status}: {' '.join(text[:300].split())}")
                self.page_url, self.html = str(r.url), text
                self.socket_path = socket_path(text)
                if self.received is not None:
                    self.received.append(text)
                return
        raise ProtocolError(f"{method} {url}: more than {MAX_REDIRECTS} redirects")

    async def open(self, url: str | None = None) -> None:
        """GET a page (default: the start URL) as a browser's address bar does."""
        await self.close()
        await self._load("GET", url or self.start_url)

    async def submit(self, form: Mapping[str, str] | None = None) -> None:
        """POST the current page's form (what its Next button or its JS does)."""
        await self.close()
        await self._load("POST", self.page_url, dict(form or {}))

    async def enter(self) -> None:
        """Open the start URL, then consent and instructions: stops on the first live page (Practice or Rounds)."""
        await self.open()
        await self.to_live_page()

    async def to_live_page(self) -> None:
        """From the page open now, through consent and instructions, to the first live page."""
        while not self.socket_path:
            name = self.page
            if not name:
                raise ProtocolError(f"{self.page_url} is not a page of the study (no participant page)")
            if name in ("Completion",):
                raise ProtocolError(f"{self.page_url}: the participant has already finished")
            form: dict[str, str] = {}
            if name == "Consent":
                form = {"consent": "True", "prolific_study_id": "",
                        "prolific_session_id": ""}
            before = self.page_url
            await self.submit(form)
            if self.page_url == before and not self.socket_path:
                raise ProtocolError(f"{name} page did not accept its form (still on {before})")

    async def resume(self) -> None:
        """Come back to the study (after a crash, a closed tab): open the participant's page URL again."""
        await self.open(self.page_url)

    async def fetch_images(self, urls: Collection[str]) -> None:
        """GET images as a browser would: distinct URLs, concurrently, relative to the page."""
        absolute = [urljoin(self.page_url, u) for u in dict.fromkeys(urls)]
        for u in absolute:
            self._check_host(u)

        async def get(url: str) -> None:
            async with self.http.get(url) as r:
                await r.read()
                if r.status != 200:
                    self.timing.image_errors += 1
        await asyncio.gather(*(get(u) for u in absolute))

    # -- the live socket ------------------------------------------------------------------------------
    async def connect(self) -> None:
        if not self.socket_path:
            raise ProtocolError(f"{self.page_url} is not a live page")
        url = socket_url(self.page_url, self.socket_path)
        self._check_host(url)
        await self._stop_reader()
        self.ws = await self.http.ws_connect(url, heartbeat=None, max_msg_size=0)
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
        """Close the live socket (if open), as leaving the page does."""
        await self._stop_reader()
        if self.ws is not None:
            await self.ws.close()
            self.ws = None

    async def send(self, message: Mapping[str, Any], *, reconnect: bool = False) -> dict[str, Any]:
        """Send one live message and return the server's reply. With ``reconnect``, a connection the server closed
        is reopened once and the message resent, as the page's JS does (the server ignores a duplicate answer);
        ``timing.reconnects`` counts it."""
        try:
            return await self._send_once(message)
        except (aiohttp.ClientConnectionError, ConnectionError, _Closed):
            if not reconnect:
                raise
        self.timing.reconnects += 1
        self.ws = None
        return await self._send_once(message)

    async def _send_once(self, message: Mapping[str, Any]) -> dict[str, Any]:
        if self.ws is None or self.ws.closed:
            await self.connect()
        assert self.ws is not None
        await self.ws.send_str(json.dumps(message))
        msg = await asyncio.wait_for(self._inbox.get(), self.timeout_s)
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise _Closed(f"websocket closed or failed: {msg.type} {msg.data!r}")
        if self.received is not None:
            self.received.append(msg.data)
        return live_reply(msg.data)

    async def state(self) -> dict[str, Any]:
        return await self.send(STATE)

    async def answer(self, shown: Shown, choice: int, response_ms: float = 1500.0, *,
                     reconnect: bool = False) -> dict[str, Any]:
        """Answer a round; returns the ack (its ``state`` is the next round or done). Anything else raises."""
        reply = await self.send(answer_message(shown, choice, response_ms), reconnect=reconnect)
        if reply.get("type") != "ack":
            raise ProtocolError(f"answer to round {shown.round} not acknowledged: {reply}")
        return reply

    async def play(self, policy: Policy, *, rounds: int | None = None,
                   response_ms: Callable[[Shown], float] = lambda s: 900.0 + 10 * s.round,
                   ) -> list[tuple[Shown, int]]:
        """Answer the current live page's rounds with ``policy`` (at most ``rounds``); when all are answered,
        submit the page as its JS does. Returns what each round showed and the slot clicked."""
        played: list[tuple[Shown, int]] = []
        state = await self.state()
        while state["type"] == "round" and (rounds is None or len(played) < rounds):
            shown = Shown.of_message(state)
            slot = policy(shown)
            reply = await self.answer(shown, slot, response_ms(shown))
            if reply.get("duplicate"):
                raise ProtocolError(f"round {shown.round} was already answered: {reply}")
            played.append((shown, slot))
            state = reply["state"]
        if state["type"] == "done":
            await self.submit()
        elif state["type"] != "round":
            raise ProtocolError(f"{self.page} page: expected a round or done, got {state}")
        return played


# ------------------------------------------------------------------------------------------------- blocking
T = TypeVar("T")


class BlockingParticipant:
    """A :class:`Participant` for synchronous code. Its event loop runs in its own thread (Playwright's sync API
    may already run one in the caller's); call :meth:`close` (or use ``with``) when done."""

    def __init__(self, start_url: str, *, record: bool = True, timeout_s: float = 60.0) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wire-participant", daemon=True)
        self._thread.start()

        async def make() -> Participant:
            http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            return Participant(http, start_url, record=record, timeout_s=timeout_s)
        self.p = self._run(make())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    @property
    def page(self) -> str:
        return self.p.page

    @property
    def code(self) -> str:
        return self.p.code

    @property
    def html(self) -> str:
        return self.p.html

    @property
    def received(self) -> list[str]:
        return self.p.received if self.p.received is not None else []

    def start(self) -> None:
        self._run(self.p.open())

    def submit(self, **form: str) -> None:
        self._run(self.p.submit(form))

    def play(self, policy: Policy) -> list[tuple[Shown, int]]:
        return self._run(self.p.play(policy))

    def close(self) -> None:
        if self._loop.is_closed():
            return

        async def shut() -> None:
            await self.p.close()
            await self.p.http.close()
        self._run(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> "BlockingParticipant":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
