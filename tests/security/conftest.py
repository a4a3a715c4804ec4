"""One hardened production study for the whole folder: PostgreSQL + oTree prodserver (deploy.launcher) + nginx
rendered from deploy/nginx.conf.template, on loopback, plus Debian's chromium. The project is served from a
private view of the repository (symlinks) that also holds ``_static_x/``, a sibling of ``_static`` with a secret
in it (the static traversal target). Each test that depends on nginx's per-address rate limits starts its own
nginx in front of the same server (a limit used up by one test must not fail another)."""

from __future__ import annotations

import http.client
import json
import shutil
import secrets
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext

from contracts.bundle import Bundle
from harness.local import (NGINX, PG_BIN, REPO, Nginx, OTreeServer, Postgres, create_session, production_env, session_participants,
                          sqlite_project_view)
from tests.helpers import make_bundle
from tests.study_live.conftest import INSTALL_HINT
from tests.study_live.live import LiveStudy

# `browser` (the session's one chromium) comes from tests/conftest.py

STIMULI = "/stimuli/"
ADMIN_PASSWORD = "admin-" + secrets.token_hex(8)
SECRET_TEXT = "TRAVERSAL-SECRET-" + secrets.token_hex(4)


@dataclass
class Hardened(LiveStudy):
    """The live study (tests/study_live/live.py) on the hardened production project: its own project directory,
    participant-id gate and nginx limits."""
    project: Path

    def session(self, participants: int, *, room: str | None = None, bundle: Path | None = None,
                **config: Any) -> dict[str, Any]:
        fields = {"bundle": str(bundle or self.bundle.root), "rounds": 2, "practice_rounds": 0,
                  "placebo_probability": 0.0, **config}
        return create_session(self.server, config="attribution_study", participants=participants, modified=fields,
                              room_name=room)

    def participants(self, code: str) -> list[dict[str, Any]]:
        return session_participants(self.server, code)

    def extra_nginx(self, **limits: int) -> Nginx:
        """Another nginx in front of the same server, not started: ``with hardened.extra_nginx() as ng:``
        (``entry_burst=N``: a larger entry burst, for a test that counts places rather than requests)."""
        return Nginx(upstream_port=self.server.port, static={STIMULI: self.bundle.root / "images"}, **limits)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def raw_get(base: str, path: str, headers: dict[str, str] | None = None, method: str = "GET",
            body: bytes | None = None) -> Reply:
    """One request with the path sent byte for byte as given (no normalisation, no redirects followed)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def require(path: str | Path, what: str) -> None:
    if not Path(path).exists() and not shutil.which(str(path)):
        pytest.fail(f"{what} not found at {path}: {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hardened]:
    require(PG_BIN / "initdb", "PostgreSQL 15")
    require(NGINX, "nginx")
    pg = Postgres().start()
    root = tmp_path_factory.mktemp("security")
    bundle = make_bundle(root, n_targets=12, image_size=16, seed=11)
    project = sqlite_project_view(REPO, root / "project")
    (project / "_static").unlink()      # a real folder, so that _static_x is its sibling (no symlink resolved)
    shutil.copytree(REPO / "_static", project / "_static", ignore=shutil.ignore_patterns("stimuli"))
    (project / "_static_x").mkdir()
    (project / "_static_x" / "secret.txt").write_text(SECRET_TEXT)
    env = production_env(database_url=pg.create_database("security"), rest_key=secrets.token_hex(12),
                         admin_password=ADMIN_PASSWORD, extra={"STIMULUS_BASE_URL": STIMULI})
    server = OTreeServer(project_dir=project, env=env, log_path=root / "otree.log")
    nginx = Nginx(upstream_port=server.port, static={STIMULI: bundle.root / "images"})
    try:
        server.start()
        nginx.start()
        yield Hardened(server, nginx, bundle, project)
    finally:
        nginx.stop()
        server.stop()
        pg.stop()


HEALTH_TIMEOUT_S = 10.0
_hung: dict[str, str] = {}   # set once the shared server stopped answering: later tests fail at once, saying why


@pytest.fixture(autouse=True)
def shared_server_answers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that uses the shared server finds it answering and leaves it answering. A server that stopped
    answering (hung, e.g. under oTree's global lock) fails the test that left it so, with the server's thread
    stacks from its log, and every later test at once with the same reason, instead of each waiting out its own
    timeouts. Nothing is restarted: the failure stays visible."""
    if "hardened" not in request.fixturenames:
        yield
        return
    hardened: Hardened = request.getfixturevalue("hardened")
    if _hung:
        pytest.fail(f"the shared oTree server stopped answering in {_hung['test']} (see that test's error for its "
                    "thread stacks); not run against it", pytrace=False)
    if not hardened.server.answers(timeout_s=HEALTH_TIMEOUT_S):
        _report_hung(hardened, "before " + request.node.nodeid)
    yield
    if not hardened.server.answers(timeout_s=HEALTH_TIMEOUT_S):
        _report_hung(hardened, request.node.nodeid)


def _report_hung(hardened: Hardened, where: str) -> None:
    _hung["test"] = where
    stacks = hardened.server.dump_stacks()
    pytest.fail(f"the shared oTree server ({hardened.server.url}, log {hardened.server.log_path}) no longer answers "
                f"a REST call within {HEALTH_TIMEOUT_S:.0f} s after {where}. Its threads (SIGUSR1):\n{stacks[-8000:]}",
                pytrace=False)


def admin_login(context: BrowserContext, base: str) -> None:
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, "admin login failed"
    page.close()


@pytest.fixture
def admin(browser: Browser, hardened: Hardened) -> Iterator[BrowserContext]:
    """A chromium context logged in as the admin through nginx (its own nginx: the login limit is per address)."""
    with hardened.extra_nginx() as ng:
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        admin_login(context, ng.url)
        context.admin_base = ng.url  # type: ignore[attr-defined]
        yield context
        context.close()


@pytest.fixture
def front(hardened: Hardened) -> Iterator[str]:
    """The base URL of a fresh nginx in front of the shared server: its per-address rate limits start unused."""
    with hardened.extra_nginx() as ng:
        yield ng.url


@dataclass
class Evil:
    """A foreign site: counts every request it gets and serves one page (``page``) at /evil.html."""

    port: int = 0
    page: str = ""
    hits: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def evil() -> Iterator[Evil]:
    state = Evil()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            state.hits.append(self.path)
            body = state.page.encode() if self.path.startswith("/evil.html") else b"export default 1;"
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if self.path.startswith("/evil.html")
                             else "text/javascript")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            state.hits.append("POST " + self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = srv.server_address[1]
    state._server = srv
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield state
    srv.shutdown()
    srv.server_close()


def dumps(obj: Any) -> str:
    return json.dumps(obj)
