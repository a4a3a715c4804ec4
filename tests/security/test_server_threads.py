"""A participant page must not hang the whole server when the experimenter opens the Monitor or SplitScreen view
(deploy/otree_threads.py): oTree 6.0.15 sends the Monitor's update from the page's worker thread on an event loop
of its own, which hangs for ever if a Monitor websocket is in its handshake at that moment, holding oTree's global
lock (CI: tests/security/test_participant_input.py's SplitScreen page never loaded, and the shared server answered
nothing more). Measured before the fix: the real-server stress below stopped the server after 7, 26, 101, 124, 127
and 13 page loads (6 runs, all hung); with it, 1442 page loads and 2252 Monitor connections in 90 s, no hang."""

from __future__ import annotations

import asyncio
import http.cookiejar
import importlib.util
import json
import re
import secrets
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from websockets.exceptions import WebSocketException
from websockets.legacy.client import connect as ws_connect

from deploy import otree_threads
from harness.local import (PG_BIN, REPO, OTreeServer, Postgres, create_session, production_env,
                          session_participants, sqlite_project_view)
from tests.helpers import make_bundle
from tests.security.conftest import require

T = TypeVar("T")


def in_own_thread(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())`` in a thread of its own (this thread may have Playwright's loop running)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


# ----------------------------------------------------------------------------------------------- in process
def fresh_channels() -> ModuleType:
    """A fresh copy of oTree's otree/channels/utils.py (its ChannelLayer unpatched, whatever this process did)."""
    spec = importlib.util.find_spec(otree_threads.CHANNELS_MODULE)
    assert spec is not None and spec.origin is not None
    copy = importlib.util.spec_from_file_location("otree_channels_utils_copy", spec.origin)
    assert copy is not None and copy.loader is not None
    module = importlib.util.module_from_spec(copy)
    copy.loader.exec_module(module)
    return module


class HandshakingSocket:
    """A websocket as uvicorn has it while its opening handshake completes: a send waits for an asyncio.Event that
    the server's loop sets (uvicorn's ``handshake_completed_event``)."""

    def __init__(self) -> None:
        self.handshake = asyncio.Event()
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        await self.handshake.wait()
        self.sent.append(text)


def page_sends_while_monitor_connects(channels: ModuleType) -> tuple[bool, list[str]]:
    """The server's loop in one thread, a Monitor socket joining its group there; a page in a worker thread calls
    oTree's ``sync_group_send`` while the socket's handshake is still completing; then the loop completes it.
    Returns whether the page's call returned within 5 s, and what the socket got."""
    loop = asyncio.new_event_loop()
    server = threading.Thread(target=loop.run_forever, daemon=True)
    server.start()
    layer, socket = channels.ChannelLayer(), HandshakingSocket()

    async def join() -> None:
        layer.add("session-monitor-x", socket)

    asyncio.run_coroutine_threadsafe(join(), loop).result(5)
    page = threading.Thread(target=layer.sync_send, args=("session-monitor-x", {"rows": []}), daemon=True)
    page.start()
    deadline = time.monotonic() + 5
    while not socket.handshake._waiters and page.is_alive() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    time.sleep(0.05)   # the waiting loop is asleep in select()
    loop.call_soon_threadsafe(socket.handshake.set)
    page.join(5)
    returned = not page.is_alive()
    deadline = time.monotonic() + 5
    while returned and not socket.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    sent = list(socket.sent)
    if not returned:   # wake the page's own loop, so that its thread ends
        bound = getattr(socket.handshake, "_loop", None)
        if bound is not None and bound is not loop:
            bound.call_soon_threadsafe(lambda: None)
        page.join(5)
    loop.call_soon_threadsafe(loop.stop)
    server.join(5)
    loop.close()
    return returned, sent


def test_otree_alone_hangs_a_page_that_updates_a_connecting_monitor() -> None:
    """The bug, deterministically, with oTree's own channel layer: the page's call never returns (oTree's global
    lock would stay held). If this fails, oTree fixed it: deploy/otree_threads.py may go."""
    returned, sent = page_sends_while_monitor_connects(fresh_channels())
    assert not returned and sent == []


def test_patched_channel_layer_sends_on_the_server_loop() -> None:
    channels = fresh_channels()
    otree_threads.install(channels)
    otree_threads.install(channels)   # once only
    returned, sent = page_sends_while_monitor_connects(channels)
    assert returned and [json.loads(m) for m in sent] == [{"rows": []}], sent


def test_patched_channel_layer_on_the_loop_and_without_sockets_is_otrees_own() -> None:
    channels = fresh_channels()
    otree_threads.install(channels)
    layer = channels.ChannelLayer()
    with ThreadPoolExecutor(1) as pool:          # no websocket ever joined: oTree's asyncio.run, a no-op
        pool.submit(layer.sync_send, "nobody", {"x": 1}).result(5)
    socket = HandshakingSocket()

    async def on_the_loop() -> list[str]:
        socket.handshake.set()
        layer.add("g", socket)
        layer.sync_send("g", {"x": 2})           # oTree's create_task on the running loop
        await asyncio.sleep(0.05)
        return socket.sent

    assert [json.loads(m) for m in in_own_thread(on_the_loop)] == [{"x": 2}]


# ----------------------------------------------------------------------------------------------- real server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[OTreeServer, str, Path]]:
    require(PG_BIN / "initdb", "PostgreSQL 15")
    root = tmp_path_factory.mktemp("threads")
    password = "admin-" + secrets.token_hex(8)
    with Postgres() as pg:
        env = production_env(database_url=pg.create_database("threads"), rest_key=secrets.token_hex(12),
                             admin_password=password)
        with OTreeServer(project_dir=sqlite_project_view(REPO, root / "project"), env=env,
                         log_path=root / "otree.log") as srv:
            yield srv, password, root


def admin_cookie(server: OTreeServer, password: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(server.url + "/login", timeout=30).read().decode()
    match = re.search(r'name="csrftoken" value="(\d+)"', page)
    assert match, page[:500]
    form = {"username": "admin", "password": password, "csrftoken": match.group(1)}
    opener.open(server.url + "/login", data=urllib.parse.urlencode(form).encode(), timeout=30).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


@pytest.mark.postgres
def test_monitors_connecting_while_pages_load_never_hang_the_server(
        server: tuple[OTreeServer, str, Path]) -> None:
    """The real prodserver: admin Monitor websockets connect and close over and over while participants load their
    pages (each load updates the Monitor from oTree's worker thread). No request may wait 15 s; the server answers
    at the end. Before the fix this hung within seconds."""
    srv, password, root = server
    cookie = admin_cookie(srv, password)
    bundle = make_bundle(root, n_targets=12, image_size=16, seed=3)
    fields: dict[str, Any] = {"bundle": str(bundle.root), "rounds": 2, "practice_rounds": 0,
                              "placebo_probability": 0.0}
    sessions, pages = [], []
    for _ in range(2):
        code = create_session(srv, config="attribution_study", participants=3, modified=fields)["code"]
        sessions.append(code)
        for p in session_participants(srv, code):
            urllib.request.urlopen(f"{srv.url}/InitializeParticipant/{p['code']}", timeout=30).read()
            pages.append(f"{srv.url}/p/{p['code']}/study/Consent/1")
    stop_at = time.monotonic() + 20
    problems: list[str] = []
    counts = {"pages": 0, "monitors": 0}

    def load_pages(k: int) -> None:
        while time.monotonic() < stop_at and not problems:
            url = pages[(k + counts["pages"]) % len(pages)]
            try:
                urllib.request.urlopen(url, timeout=15).read()
            except OSError as e:
                problems.append(f"page {url}: {e!r}")
                return
            counts["pages"] += 1

    async def open_monitors(k: int) -> None:
        while time.monotonic() < stop_at and not problems:
            code = sessions[(k + counts["monitors"]) % len(sessions)]
            try:
                async with ws_connect(f"ws://127.0.0.1:{srv.port}/session_monitor/{code}",
                                      extra_headers={"Cookie": cookie}, open_timeout=15) as ws:
                    await asyncio.wait_for(ws.recv(), 15)
            except (OSError, asyncio.TimeoutError, WebSocketException) as e:
                problems.append(f"monitor {code}: {e!r}")
                return
            counts["monitors"] += 1

    async def both() -> None:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(4) as pool:
            loaders = [loop.run_in_executor(pool, load_pages, k) for k in range(4)]
            await asyncio.gather(*(open_monitors(k) for k in range(4)), *loaders)

    in_own_thread(both)
    alive = srv.answers(timeout_s=15)
    stacks = "" if alive and not problems else srv.dump_stacks()
    assert not problems and alive, (f"after {counts['pages']} page loads and {counts['monitors']} monitors: "
                                    f"{problems[:4]}, server answers: {alive}\n{stacks[-6000:]}")
    assert counts["pages"] > 20 and counts["monitors"] > 20, counts
