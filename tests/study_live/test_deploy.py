"""deploy.launcher and deploy.nginx against real processes (the baseline bench app is the oTree project: it needs
no study bundle beyond a tiny fixture)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from deploy.launcher import LaunchError, check_environment
from harness.local import (BASELINE_APP, Nginx, OTreeServer, alive, baseline_server, create_session, free_port,
                           production_env, sqlite_project_view)
from tests.helpers import make_bundle

REPO = Path(__file__).resolve().parents[2]
GOOD = {"OTREE_ADMIN_PASSWORD": "p" * 12, "OTREE_AUTH_LEVEL": "STUDY", "OTREE_SECRET_KEY": "s" * 32,
        "OTREE_REST_KEY": "r" * 16, "DATABASE_URL": "postgresql://u@localhost/db"}


@pytest.mark.parametrize("drop,expect", [
    ("OTREE_ADMIN_PASSWORD", "OTREE_ADMIN_PASSWORD is not set"),
    ("OTREE_AUTH_LEVEL", "OTREE_AUTH_LEVEL is ''"),
    ("OTREE_SECRET_KEY", "OTREE_SECRET_KEY is missing"),
    ("DATABASE_URL", "DATABASE_URL is not set"),
])
def test_check_environment_names_the_missing_setting(drop: str, expect: str) -> None:
    check_environment(GOOD)
    with pytest.raises(LaunchError, match=expect):
        check_environment({k: v for k, v in GOOD.items() if k != drop})
    with pytest.raises(LaunchError, match="must be 'STUDY'"):
        check_environment({**GOOD, "OTREE_AUTH_LEVEL": "DEMO"})


@pytest.mark.parametrize("drop", ["OTREE_ADMIN_PASSWORD", "OTREE_AUTH_LEVEL", "OTREE_SECRET_KEY"])
def test_launcher_refuses_to_start_without_auth(drop: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTREE_")}
    env.update({k: v for k, v in GOOD.items() if k != drop})
    port = free_port()
    r = subprocess.run([sys.executable, "-m", "deploy.launcher", "--port", str(port), "--project-dir", str(BASELINE_APP)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and drop in lines[0], r.stderr


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on ``port`` (from /proc/net/tcp, IPv4)."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            out.add(".".join(str(int(addr_hex[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return out



def test_launcher_binds_loopback_and_leaves_no_orphan(tmp_path: Path) -> None:
    server, view = baseline_server(tmp_path)
    server.start()
    try:
        assert _listening_addresses(server.port) == {"127.0.0.1"}
        pids = server.processes()
        cmdlines = [Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode() for p in pids]
        assert any("timeoutsubprocess" in c for c in cmdlines), cmdlines  # the child oTree would orphan
        session = create_session(server, config="baseline", participants=2)
        assert session["code"]
        # the REST API is closed without the key (auth level STUDY)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + "/api/sessions", timeout=10)
        assert err.value.code == 403
        assert (view / "db.sqlite3").exists() and not (BASELINE_APP / "db.sqlite3").exists()
    finally:
        server.stop()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)], "launcher left oTree processes behind after SIGTERM"


def test_nginx_serves_images_without_touching_otree(tmp_path: Path, nginx_available: None) -> None:
    bundle = make_bundle(tmp_path, n_targets=2)
    view = sqlite_project_view(BASELINE_APP, tmp_path / "view")
    env = production_env(database_url="sqlite:///db.sqlite3", rest_key="r" * 24,
                         extra={"BASELINE_BUNDLE": str(bundle.root), "BASELINE_ROUNDS": "1"})
    image = bundle.targets[0].image
    with OTreeServer(project_dir=view, env=env, log_path=tmp_path / "otree.log") as server, \
            Nginx(upstream_port=server.port, static={"/stimuli/": bundle.root / "images"}) as nginx:
        with urllib.request.urlopen(nginx.url + "/stimuli/" + image.split("/")[-1], timeout=10) as r:
            assert r.read() == (bundle.root / image).read_bytes()
            assert "immutable" in r.headers.get_all("Cache-Control", [""])[-1]
        for path in ("/stimuli/nope.png", "/stimuli/%2e%2e/manifest.json"):  # nothing outside images/ leaks
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(nginx.url + path, timeout=10)
            assert err.value.code in (400, 404)
        with urllib.request.urlopen(nginx.url + "/static/favicon.ico", timeout=10) as r3:  # proxied to oTree
            assert r3.status == 200
    log = (tmp_path / "otree.log").read_text()
    assert "favicon" in log and image.split("/")[-1] not in log and "nope.png" not in log
