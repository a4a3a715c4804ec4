"""Production launcher for the oTree study server.

    OTREE_ADMIN_PASSWORD=... OTREE_AUTH_LEVEL=STUDY OTREE_SECRET_KEY=... OTREE_REST_KEY=... \\
    DATABASE_URL=postgresql://user:pw@localhost/study  python -m deploy.launcher --host 127.0.0.1 --port 8000

What it adds to ``otree prodserver``:

* it refuses to start (one line, exit 2) unless the environment carries an admin password (>= 12 characters),
  ``OTREE_AUTH_LEVEL=STUDY``, a secret key (>= 32) and a REST key (>= 16; deploy/credentials.py) (oTree itself leaves the admin pages, the REST API and the data exports open when the auth level is
  unset), and a ``DATABASE_URL`` (oTree would otherwise fall back to ./db.sqlite3 silently);
* it sets ``OTREE_PRODUCTION=1`` and binds 127.0.0.1 unless told otherwise (prodserver's default is 0.0.0.0; put nginx
  in front, see deploy/nginx.conf);
* oTree's prodserver spawns an ``otree timeoutsubprocess`` child that survives a SIGTERM of its parent; the launcher
  runs the server in its own process group and, on SIGTERM/SIGINT or when the server dies, ends the whole group, so
  nothing is left behind;
* if the launcher itself is killed (``kill -9``), the kernel sends the server SIGTERM (``PR_SET_PDEATHSIG``); an
  oTree process for the same port still running at the next start (e.g. the orphaned ``timeoutsubprocess``) makes
  the launcher refuse with one line naming its pid, as does a busy port. Under systemd use deploy/study.service
  (``KillMode=mixed``: the whole group is stopped).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from contracts.cli import make_parser
from deploy.credentials import REQUIRED_AUTH_LEVEL, secret_problems

__all__ = ["REQUIRED_AUTH_LEVEL", "LaunchError", "check_environment", "main", "otree_servers", "stop_group"]


class LaunchError(Exception):
    """A problem with the environment that must be fixed before the server may start (one line)."""


def check_environment(env: Mapping[str, str]) -> None:
    """Raise :class:`LaunchError` naming the first missing or unsafe setting (deploy.credentials: the one secrets
    rule, which settings.py applies too). Pure: reads only ``env``."""
    problems = secret_problems(env)
    if problems:
        raise LaunchError(problems[0])
    url = env.get("DATABASE_URL", "")
    if not url:
        raise LaunchError("DATABASE_URL is not set: production needs a database that survives a crash, e.g. "
                          "postgresql://user:password@localhost/study")
    if url.startswith("sqlite") and ":memory:" in url:
        raise LaunchError("DATABASE_URL points at an in-memory SQLite database, which loses every answer on a crash")


def otree_servers(port: int, *, proc_root: Path = Path("/proc")) -> list[tuple[int, str]]:
    """(pid, command line) of every running ``otree prodserver``/``otree timeoutsubprocess`` for ``port``: what
    an earlier launcher killed with SIGKILL (no chance to clean up) may have left behind."""
    found = []
    for cmdline in proc_root.glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        for i, arg in enumerate(argv[:-1]):
            if Path(arg).name == "otree" and argv[i + 1] in ("prodserver", "timeoutsubprocess", "devserver_inner"):
                where = argv[i + 2] if len(argv) > i + 2 else ""
                if where.rsplit(":", 1)[-1] == str(port):
                    found.append((int(cmdline.parent.name), " ".join(a for a in argv if a)))
                break
    return found


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _die_with_parent() -> None:
    """In the server's process (before exec): SIGTERM it when the launcher dies, even by SIGKILL (Linux)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def server_command(*, otree: str, host: str, port: int) -> list[str]:
    return [otree, "prodserver", f"{host}:{port}"]


def server_environment(env: Mapping[str, str], *, otree_bin_dir: str) -> dict[str, str]:
    """The environment the server runs with: production on, and oTree's own `otree` first on PATH
    (prodserver starts its `otree timeoutsubprocess` child through PATH)."""
    out = dict(env)
    out["OTREE_PRODUCTION"] = "1"
    out["PATH"] = otree_bin_dir + os.pathsep + env.get("PATH", "")
    return out


def find_otree() -> str:
    candidate = Path(sys.executable).with_name("otree")
    if not candidate.exists():
        raise LaunchError(f"no `otree` next to {sys.executable}: run the launcher with the study environment's "
                          "python (.venv/bin/python -m deploy.launcher)")
    return str(candidate)


def stop_group(proc: subprocess.Popen[bytes], *, grace_s: float = 10.0) -> None:
    """SIGTERM the server's whole process group (incl. the timeoutsubprocess child), SIGKILL what is left."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(proc.pid):
            return
        time.sleep(0.1)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running. Zombies do not count: once the server has died, its
    orphaned child is reparented to init, which may take its time to reap it."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":   # fields: state, ppid, pgrp, ...
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    p = make_parser("python -m deploy.launcher", __doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1", help="address to bind (put nginx in front; 0.0.0.0 exposes oTree)")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")), help="port to bind")
    p.add_argument("--project-dir", type=Path, default=Path.cwd(),
                   help="the oTree project (the directory holding settings.py)")
    args = p.parse_args(argv)
    try:
        if not (args.project_dir / "settings.py").is_file():
            raise LaunchError(f"{args.project_dir} has no settings.py: pass the oTree project with --project-dir")
        if not 0 < args.port < 65536:
            raise LaunchError(f"--port {args.port} is not a valid TCP port (1-65535)")
        check_environment(os.environ)
        otree = find_otree()
        left = otree_servers(args.port)
        if left:
            pid, command_line = left[0]
            raise LaunchError(f"an oTree server from an earlier run is still running on port {args.port} (pid {pid}: "
                              f"{command_line}): stop it with `kill {pid}`, then start the launcher again")
        if port_in_use(args.host, args.port):
            raise LaunchError(f"port {args.port} on {args.host} is already in use: stop what listens there or pass "
                              "another --port")
    except LaunchError as e:
        print(f"launcher: {e}", file=sys.stderr)
        return 2
    cmd = server_command(otree=otree, host=args.host, port=args.port)
    env = server_environment(os.environ, otree_bin_dir=str(Path(otree).parent))
    stop = {"requested": False}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop["requested"] = True  # only a flag: Popen.wait() must not be re-entered from a signal handler

    signal.signal(signal.SIGTERM, on_signal)  # before the server exists, so no signal can orphan it
    signal.signal(signal.SIGINT, on_signal)
    proc = subprocess.Popen(cmd, cwd=args.project_dir, env=env, start_new_session=True,
                            preexec_fn=_die_with_parent)
    print(f"launcher: oTree prodserver pid {proc.pid} on http://{args.host}:{args.port}", flush=True)
    while proc.poll() is None and not stop["requested"]:
        time.sleep(0.1)
    # asked to stop, or the server died on its own: either way, leave nothing of its process group behind
    stop_group(proc, grace_s=10.0 if stop["requested"] else 2.0)
    return 0 if stop["requested"] else (proc.returncode or 1)  # a server that exits by itself is a failure


if __name__ == "__main__":
    sys.exit(main())
