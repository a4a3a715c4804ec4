"""Throwaway local servers for the tests, the load benchmark and the demo, all on loopback, all cleaned up:

* :class:`Postgres` — a PostgreSQL cluster in a temporary directory (Debian's postgresql-15 binaries), run as the
  ``postgres`` user when we are root (PostgreSQL refuses to run as root), on a free port, unix socket in the dir;
* :class:`OTreeServer` — the production server through :mod:`deploy.launcher` (prodserver, auth level STUDY), with
  ``kill9()`` for crash tests and ``restart()``;
* :class:`Nginx` — nginx rendered from deploy/nginx.conf.template, serving static directories off oTree's lock;
* :func:`create_session`, :func:`session_participants`, :func:`export_custom` — oTree's REST API, of an
  :class:`OTreeServer` or of any server by URL and REST key (:class:`RestApi`: the demo's devserver).

Standard library only.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Protocol

from deploy.launcher import stop_group
from deploy.nginx import ENTRY_BURST, render as render_nginx
from harness.bundle import make_bundle

REPO = Path(__file__).resolve().parent.parent
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")


class LocalServerError(RuntimeError):
    """A local server could not be started; the message names what is missing and how to get it."""


class RestError(LocalServerError):
    """oTree's REST API refused a call; ``reason`` is the last line of its answer (oTree answers with a traceback,
    whose last line says why)."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        self.status = status
        self.reason = lines[-1] if lines else f"HTTP {status}"
        super().__init__(f"{method} {path} -> HTTP {status}: {body[:2000]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, *, timeout_s: float, proc: subprocess.Popen[bytes] | None = None,
                  what: str = "server", log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise LocalServerError(f"{what} exited with code {proc.returncode} before listening on {port}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise LocalServerError(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s")


# ----------------------------------------------------------------------------------------------- PostgreSQL
class Postgres:
    """``with Postgres() as pg: pg.url`` — a fresh cluster, stopped and deleted on exit."""

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="study-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        full = (["runuser", "-u", "postgres", "--"] if self._as_postgres else []) + list(cmd)
        return subprocess.run(full, capture_output=True, text=True, check=False)

    def start(self) -> "Postgres":
        initdb = PG_BIN / "initdb"
        if not initdb.exists():
            raise LocalServerError(f"{initdb} not found: install PostgreSQL 15 (apt-get install -y postgresql, "
                                   "or scripts/setup.sh --system)")
        if self._as_postgres:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise LocalServerError("no 'postgres' system user: install Debian's postgresql package") from None
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        r = self._run(str(initdb), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                      "--no-sync")
        if r.returncode:
            raise LocalServerError(f"initdb failed: {r.stderr.strip()[-500:]}")
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=50"
        r = self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"),
                      "-w", "-t", "60", "start")
        if r.returncode:
            log = (self.root / "log").read_text(errors="replace")[-1000:] if (self.root / "log").exists() else ""
            raise LocalServerError(f"pg_ctl start failed: {r.stderr.strip()[-500:]} {log}")
        return self

    def create_database(self, name: str) -> str:
        """A new empty database in this cluster; returns its URL (one oTree server per database)."""
        if not name.isidentifier():
            raise ValueError(f"database name {name!r} must be a plain identifier")
        r = self._run(str(PG_BIN / "createdb"), "-h", str(self.root), "-p", str(self.port),
                      "-U", "postgres", name)
        if r.returncode:
            raise LocalServerError(f"createdb {name} failed: {r.stderr.strip()[-500:]}")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "Postgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------------- oTree
def production_env(*, database_url: str, rest_key: str, admin_password: str | None = None,
                   extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a production server needs (what deploy.launcher checks), for tests and benchmarks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTREE_")}
    env.update(OTREE_PRODUCTION="1", OTREE_AUTH_LEVEL="STUDY", OTREE_ADMIN_PASSWORD=admin_password or
               secrets.token_hex(8), OTREE_SECRET_KEY=secrets.token_hex(24), OTREE_REST_KEY=rest_key,
               DATABASE_URL=database_url, PYTHONUNBUFFERED="1")
    env.update(extra or {})
    return env


def sqlite_project_view(project_dir: Path, into: Path) -> Path:
    """oTree keeps SQLite in ./db.sqlite3 whatever DATABASE_URL says: give it a private working directory whose
    entries are symlinks to the project's, so the database lands in ``into`` and not in the checkout."""
    into.mkdir(parents=True, exist_ok=True)
    for entry in project_dir.iterdir():
        if entry.name in ("db.sqlite3", ".git") or entry.name.startswith(".venv"):
            continue
        link = into / entry.name
        if not link.exists():
            link.symlink_to(entry.resolve())
    return into


class OTreeServer:
    """The oTree production server via deploy.launcher, on 127.0.0.1:``port``."""

    def __init__(self, *, project_dir: Path, env: Mapping[str, str], log_path: Path, port: int | None = None,
                 python: str = sys.executable) -> None:
        self.project_dir = project_dir
        self.env = dict(env)
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(project_dir.resolve()), str(REPO),
                                                             env.get("PYTHONPATH", "")) if p)
        self.port = port or free_port()
        self.log_path = log_path
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None
        self.rest_key = self.env["OTREE_REST_KEY"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout_s: float = 60.0) -> "OTreeServer":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.python, "-m", "deploy.launcher", "--host", "127.0.0.1", "--port", str(self.port),
             "--project-dir", str(self.project_dir)],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for_port(self.port, timeout_s=timeout_s, proc=self.proc, what="oTree prodserver", log=self.log_path)
        return self

    def processes(self) -> list[int]:
        """Pids the launcher started: prodserver and its ``otree timeoutsubprocess`` child."""
        assert self.proc is not None
        return _descendants(self.proc.pid)

    def kill9(self) -> None:
        """A crash: SIGKILL the launcher and every oTree process it started, no clean-up of any kind."""
        assert self.proc is not None
        children = _descendants(self.proc.pid)
        for pid in [self.proc.pid, *children]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for pid in children:
            _wait_gone(pid)

    def answers(self, *, timeout_s: float = 10.0) -> bool:
        """Whether the server answers a REST call within ``timeout_s`` (it takes oTree's global lock like every
        page: a server hung under that lock does not answer)."""
        try:
            self.rest("GET", "/api/otree_version", timeout_s=timeout_s)
        except (OSError, RestError):
            return False
        return True

    def dump_stacks(self, *, wait_s: float = 2.0) -> str:
        """What the server's threads are doing: SIGUSR1 makes the prodserver write every thread's stack into its
        log (settings.py, deploy/otree_threads.py); returns what the log gained meanwhile."""
        before = self.log_path.stat().st_size if self.log_path.exists() else 0
        pids = [pid for pid in self.processes() if "prodserver" in _cmdline(pid)]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass
        if not pids:
            return "(no prodserver process found)"
        time.sleep(wait_s)
        with open(self.log_path, "rb") as f:
            f.seek(before)
            return f.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.proc = None

    def __enter__(self) -> "OTreeServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- REST ---------------------------------------------------------------------------------------------
    def rest(self, method: str, path: str, payload: Mapping[str, Any] | None = None, *,
             timeout_s: float = 120.0) -> bytes:
        return rest_call(self.url, self.rest_key, method, path, payload, timeout_s=timeout_s)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    found, stack = [], [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            found.append(c)
            stack.append(c)
    return found


BASELINE_APP = REPO / "bench" / "baseline_app"   # the plainest oTree project: the launcher's and the bench's baseline


def baseline_server(tmp: Path, *, targets: int = 4) -> tuple[OTreeServer, Path]:
    """The baseline app (SQLite, a copy of the project so its database stays in ``tmp``) behind the launcher, not
    started; returns the server and the project view."""
    bundle = make_bundle(tmp, n_targets=targets)
    view = sqlite_project_view(BASELINE_APP, tmp / "view")
    env = production_env(database_url="sqlite:///db.sqlite3", rest_key="r" * 24,
                         extra={"BASELINE_BUNDLE": str(bundle.root), "BASELINE_ROUNDS": "2"})
    return OTreeServer(project_dir=view, env=env, log_path=tmp / "otree.log"), view


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (/proc/PID/stat's state, read after the command name, which may hold
    spaces and parentheses)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def rest_call(base_url: str, rest_key: str, method: str, path: str, payload: Mapping[str, Any] | None = None, *,
              timeout_s: float = 120.0) -> bytes:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(base_url + path, data=data, method=method,
                                 headers={"otree-rest-key": rest_key, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as e:
        raise RestError(method, path, e.code, e.read().decode(errors="replace")) from None


class RestTarget(Protocol):
    """What speaks oTree's REST API: an :class:`OTreeServer`, or a :class:`RestApi`."""

    @property
    def url(self) -> str: ...

    def rest(self, method: str, path: str, payload: Mapping[str, Any] | None = None, *,
             timeout_s: float = 120.0) -> bytes: ...


@dataclass(frozen=True)
class RestApi:
    """oTree's REST API of a server this module did not start (the demo's devserver)."""

    url: str
    rest_key: str

    def rest(self, method: str, path: str, payload: Mapping[str, Any] | None = None, *,
             timeout_s: float = 120.0) -> bytes:
        return rest_call(self.url, self.rest_key, method, path, payload, timeout_s=timeout_s)


def create_session(server: RestTarget, *, config: str, participants: int,
                   modified: Mapping[str, Any] | None = None, room_name: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"session_config_name": config, "num_participants": participants}
    if modified:
        payload["modified_session_config_fields"] = dict(modified)
    if room_name:
        payload["room_name"] = room_name
    result: dict[str, Any] = json.loads(server.rest("POST", "/api/sessions", payload))
    return result


def session_participants(server: RestTarget, session_code: str) -> list[dict[str, Any]]:
    info = json.loads(server.rest("POST", f"/api/get_session/{session_code}", {}))
    return list(info["participants"])


def start_urls(server: RestTarget, session_code: str, *, base_url: str | None = None) -> list[str]:
    base = base_url or server.url
    return [f"{base}/InitializeParticipant/{p['code']}" for p in session_participants(server, session_code)]


def export_custom(server: RestTarget, *, app: str, session_code: str | None = None) -> str:
    q = f"/api/export_app_custom?app={app}" + (f"&session_code={session_code}" if session_code else "")
    return server.rest("GET", q).decode("utf-8-sig")


# ----------------------------------------------------------------------------------------------- nginx
class Nginx:
    """nginx on 127.0.0.1:``port`` in front of ``upstream``, serving ``static`` URL prefixes from directories."""

    def __init__(self, *, upstream_port: int, static: Mapping[str, Path], port: int | None = None,
                 workers: int = 1, entry_burst: int = ENTRY_BURST) -> None:
        if not Path(NGINX).exists():
            raise LocalServerError(f"{NGINX} not found: install nginx (apt-get install -y nginx-light, or "
                                   "scripts/setup.sh --system)")
        self.port = port or free_port()
        self.prefix = Path(tempfile.mkdtemp(prefix="study-nginx-"))
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(render_nginx(listen=f"127.0.0.1:{self.port}", upstream=f"127.0.0.1:{upstream_port}",
                                          prefix=self.prefix, static=static, workers=workers,
                                          public_origin=f"http://127.0.0.1:{self.port}",
                                          user="root" if os.geteuid() == 0 else None, entry_burst=entry_burst))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Nginx":
        """Start nginx; a second call while it runs does nothing (``with Nginx(...).start() as n`` starts it once:
        a second nginx on the same port would retry its bind for seconds while the first went on listening, and
        ``stop`` would then end only the second)."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        log = open(self.prefix / "stderr.log", "ab")
        self.proc = subprocess.Popen([NGINX, "-p", str(self.prefix), "-c", str(self.conf), "-g", "daemon off;"],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for_port(self.port, timeout_s=15, proc=self.proc, what="nginx", log=self.prefix / "stderr.log")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            stop_group(self.proc)
        self.proc = None
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> "Nginx":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
