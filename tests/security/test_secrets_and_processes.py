"""Weak secrets (issue 10 #3), the launcher and orphans (#13), the demo's busy port (#9) and banner (#10): real
processes."""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from playwright.sync_api import BrowserContext

from harness.local import alive, baseline_server, free_port
from tests.security.conftest import Hardened, raw_get

REPO = Path(__file__).resolve().parents[2]
STRONG = {"OTREE_ADMIN_PASSWORD": "p" * 12, "OTREE_AUTH_LEVEL": "STUDY", "OTREE_SECRET_KEY": "k" * 32,
          "OTREE_REST_KEY": "r" * 16, "DATABASE_URL": "postgresql://u@localhost/db"}
WEAK = [("OTREE_ADMIN_PASSWORD", "a"), ("OTREE_ADMIN_PASSWORD", "p" * 11), ("OTREE_SECRET_KEY", "a"),
        ("OTREE_SECRET_KEY", "k" * 31), ("OTREE_REST_KEY", "x"), ("OTREE_REST_KEY", None)]


def _env(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTREE_", "STUDY_"))}
    env.update(STRONG)
    for k, v in overrides.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    env["PYTHONPATH"] = str(REPO)
    return env


def test_one_rule_for_every_secret() -> None:
    from deploy.credentials import secret_problems
    assert secret_problems(STRONG) == []
    for var, value in WEAK:
        env = {**STRONG, var: value} if value is not None else {k: v for k, v in STRONG.items() if k != var}
        problems = secret_problems(env)
        assert len(problems) == 1 and problems[0].startswith(var), (var, value, problems)
    # REST off (STUDY_REST=0, no key): no REST key needed
    assert secret_problems({**{k: v for k, v in STRONG.items() if k != "OTREE_REST_KEY"}, "STUDY_REST": "0"}) == []


@pytest.mark.parametrize("var, value", WEAK)
def test_launcher_and_plain_prodserver_refuse_weak_secrets(var: str, value: str | None, tmp_path: Path) -> None:
    """The launcher accepted OTREE_ADMIN_PASSWORD=a and no REST key; `otree prodserver` took OTREE_SECRET_KEY=a."""
    port = free_port()
    launcher = subprocess.run([sys.executable, "-m", "deploy.launcher", "--port", str(port)], cwd=REPO,
                              env=_env(**{var: value}), capture_output=True, text=True, timeout=60)
    lines = launcher.stderr.strip().splitlines()
    assert launcher.returncode == 2 and len(lines) == 1 and var in lines[0], launcher.stderr
    otree = Path(sys.executable).with_name("otree")
    plain = subprocess.run([str(otree), "prodserver", f"127.0.0.1:{port}"], cwd=REPO, env=_env(**{var: value}),
                           capture_output=True, text=True, timeout=60)
    lines = [x for x in plain.stderr.splitlines() if x.strip()]
    assert plain.returncode != 0 and len(lines) == 1 and var in lines[0], plain.stderr[-2000:]



def test_killed_launcher_leaves_no_server_and_a_restart_names_any_orphan(tmp_path: Path) -> None:
    """#13: kill -9 of the launcher left prodserver running; the documented restart then failed on a busy port."""
    server, view = baseline_server(tmp_path)
    server.start()
    try:
        assert server.proc is not None
        children = server.processes()
        os.kill(server.proc.pid, signal.SIGKILL)   # the launcher only: no clean-up of its own
        server.proc.wait()
        prodserver = [p for p in children if b"prodserver" in Path(f"/proc/{p}/cmdline").read_bytes()]
        deadline = time.monotonic() + 15
        while any(alive(p) for p in prodserver) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in prodserver if alive(p)], "prodserver outlived its launcher"
        with socket.socket() as s:             # its port is free again
            s.bind(("127.0.0.1", server.port))
        left = [p for p in children if alive(p)]
        restart = subprocess.run([sys.executable, "-m", "deploy.launcher", "--port", str(server.port),
                                  "--project-dir", str(view)], cwd=REPO, env={**server.env, "PYTHONPATH": str(REPO)},
                                 capture_output=True, text=True, timeout=60)
        if left:  # oTree's timeoutsubprocess child may survive: the restart names it instead of half-starting
            lines = restart.stderr.strip().splitlines()
            assert restart.returncode == 2 and len(lines) == 1 and f"pid {left[0]}" in lines[0], restart.stderr
            from deploy.launcher import otree_servers
            assert [pid for pid, _ in otree_servers(server.port)] == left
    finally:
        for pid in server.processes() if server.proc and server.proc.poll() is None else []:
            os.kill(pid, signal.SIGKILL)
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        server.proc = None


def test_launcher_refuses_a_busy_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "deploy.launcher", "--port", str(port)], cwd=REPO,
                           env=_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"port {port}" in r.stderr, r.stderr


def test_demo_refuses_a_busy_port_before_creating_a_session() -> None:
    """#9: a second demo printed "Demo study is live" with new links, then failed to bind and exited."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run([sys.executable, "scripts/serve_demo.py", "--port", str(port)], cwd=REPO,
                           env=_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "is live" not in r.stdout
    assert r.stderr.count("\n") == 1 and f"port {port} is already in use" in r.stderr, r.stderr


def test_demo_sh_refuses_a_busy_port_before_the_build(tmp_path: Path) -> None:
    """#9, earlier: scripts/demo.sh checked the port only in serve_demo.py, after the build, which may move the live
    bundle aside (a running demo's participants then hang). Run in a copy of the repository's layout whose setup
    and pipeline are stand-ins that leave a mark: with the port taken it stops after setup, before the build, in
    one line, and the bundle folder is untouched."""
    (tmp_path / "scripts").mkdir()
    shutil.copy2(REPO / "scripts" / "demo.sh", tmp_path / "scripts" / "demo.sh")
    marks = tmp_path / "marks"
    for stub in (tmp_path / "scripts" / "setup.sh", tmp_path / ".venv-pipeline" / "bin" / "python"):
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text(f'#!/bin/sh\necho "{stub.name} $*" >> {marks}\n')
        stub.chmod(0o755)
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    (tmp_path / "deploy").symlink_to(REPO / "deploy")
    bundle = tmp_path / "demo_bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{}")
    before = sorted(p.name for p in tmp_path.iterdir())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run(["bash", str(tmp_path / "scripts" / "demo.sh")], cwd=tmp_path,
                           env={**_env(), "PORT": str(port)}, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and r.stderr.count("\n") == 1 and f"port {port} is already in use" in r.stderr, r.stderr
    assert marks.read_text().splitlines() == ["setup.sh all"]          # setup ran, the build did not
    after = sorted(p.name for p in tmp_path.iterdir() if p != marks)
    assert after == before and (bundle / "manifest.json").read_text() == "{}"


def _serve_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("serve_demo", REPO / "scripts" / "serve_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_banner_names_what_otree_serves_and_a_working_analysis_command(hardened: Hardened,
                                                                           admin: BrowserContext) -> None:
    """#10: the banner's export link was a 404. Every address it prints is served (the export page in the admin's
    browser, both REST exports with the key), and its analysis command parses, --trials included (without it the
    practice targets count as 0-vote images)."""
    from analysis.cli import build_parser
    base = admin.admin_base  # type: ignore[attr-defined]
    hardened.session(1)
    links = {"session_wide_url": f"{base}/join/x", "admin_url": f"{base}/SessionStartLinks/x"}
    text = _serve_demo().banner(base, links,
                                rest_key=hardened.server.rest_key, participants=1, bundle="demo_bundle")
    page = admin.new_page()
    export_page = re.search(r"Export in the browser: (\S+)", text)
    assert export_page, text
    resp = page.goto(export_page.group(1))
    assert resp is not None and resp.status == 200 and "custom_export" in page.content(), export_page.group(1)
    page.close()
    rest = re.findall(r'curl -s -H "otree-rest-key: (\S+)" (?:\\\n\s+)?"([^"]+)" > (\S+)', text)
    assert [out for _, _, out in rest] == ["responses.csv", "trials.csv"], text
    for key, url, out in rest:
        r = raw_get(base, url[len(base):], {"otree-rest-key": key})
        header = r.text.lstrip("\ufeff").splitlines()[0]
        assert r.status == 200 and ("phase" in header) == (out == "trials.csv"), (url, r.status, header)
    command = re.search(r"\.venv/bin/python -m analysis (report .*?--out \S+)", text.replace("\\\n", " "), re.S)
    assert command, text
    args = build_parser().parse_args(command.group(1).split())
    assert args.trials == Path("trials.csv") and args.responses == Path("responses.csv")


def test_systemd_unit_stops_the_whole_server_and_restarts_after_a_crash() -> None:
    """#13 under systemd: deploy/study.service must take oTree's children down with the launcher (KillMode=mixed:
    SIGTERM to the launcher, then SIGKILL to what is left of the cgroup) and restart it after a crash, but not loop
    on a refusal to start (exit 2)."""
    unit = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    unit.optionxform = str  # type: ignore[assignment,method-assign]   # systemd keys are case-sensitive
    unit.read_string((REPO / "deploy" / "study.service").read_text())
    service = unit["Service"]
    assert service["KillMode"] == "mixed" and service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2" and "-m deploy.launcher" in service["ExecStart"]
