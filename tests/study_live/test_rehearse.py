"""``python -m study_app.rehearse`` against the production layout (prodserver + PostgreSQL + nginx): simulated
participants through a session-wide link and a room link, every answer in the export; bad input in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from harness.local import REPO, create_session, free_port, session_participants
from tests.study_live.live import LiveStudy

pytestmark = [pytest.mark.postgres]


def _rehearse(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "study_app.rehearse", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _config(live: LiveStudy) -> dict[str, object]:
    return {"bundle": str(live.bundle.root), "rounds": 3, "practice_rounds": 1}


def test_session_wide_link_all_participants_answer_and_the_export_has_every_round(live_study: LiveStudy) -> None:
    s = create_session(live_study.server, config="attribution_study", participants=4, modified=_config(live_study))
    link = live_study.url + urlsplit(s["session_wide_url"]).path   # through nginx, as participants come in
    r = _rehearse(link, "--participants", "4", "--rounds", "3", "--think-s", "0.05", "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    out = json.loads(r.stdout)
    assert out["answers"] == 4 * (1 + 3) and out["errors"] == 0 and out["finished"] == 4, out
    assert out["answers_per_s"] > 0 and 0 < out["p50_ms"] <= out["p99_ms"], out
    rows = live_study.responses(s["code"])
    assert len(rows) == 4 * 3 and len({r.participant_code for r in rows}) == 4


def test_room_link_gives_each_participant_its_own_label_and_stops_after_the_rounds(live_study: LiveStudy) -> None:
    s = create_session(live_study.server, config="attribution_study", participants=3, room_name="lab",
                       modified=_config(live_study))
    r = _rehearse(f"{live_study.url}/room/lab", "--participants", "2", "--rounds", "2", "--think-s", "0")
    assert r.returncode == 0, r.stderr + r.stdout
    lines = r.stdout.splitlines()
    assert lines[0].startswith("rehearsal: 2 participants x 2 rounds through the room link: 6 answers")
    assert [line.split(":")[0] for line in lines[1:5]] == ["answers/s", "p50 latency", "p99 latency", "errors"]
    assert lines[4] == "errors: 0"     # entries nginx rate-limits (earlier tests share this address) are retried
    labels = [p["label"] for p in session_participants(live_study.server, s["code"]) if p["label"]]
    assert len(labels) == 2 and len(set(labels)) == 2
    assert len(live_study.responses(s["code"])) == 2 * 2


def test_entries_over_the_front_ends_rate_limit_wait_and_are_not_errors(live_study: LiveStudy) -> None:
    """nginx admits 10 room entries a minute per address (the live study's burst of 10, tests/study_live/live.py):
    12 simulated participants from this one address exceed it; the rehearsal waits and retries (counted apart), and
    every participant still plays."""
    s = create_session(live_study.server, config="attribution_study", participants=12, room_name="lab",
                       modified=_config(live_study))
    r = _rehearse(f"{live_study.url}/room/lab", "--participants", "12", "--rounds", "1", "--think-s", "0",
                  "--no-images", "--json")
    assert r.returncode == 0, r.stderr + r.stdout
    out = json.loads(r.stdout)
    assert out["entries_throttled"] >= 1 and out["errors"] == 0 and out["finished"] == 0, out
    assert len(live_study.responses(s["code"])) == 12


@pytest.mark.parametrize("args, why", [
    (["https://example.org/room/lab"], "example.org is not loopback"),
    (["https://example.org/room/lab", "--host-is-mine", "example.com"], "example.org is not loopback"),
    (["ftp://127.0.0.1/room/lab"], "is not an http(s) URL"),
    (["http://127.0.0.1:1/admin/SessionStartLinks/x"], "is not a room link"),
    (["http://127.0.0.1:1/room/lab", "--participants", "201"], "argument --participants: must be in 1..200"),
    (["http://127.0.0.1:1/room/lab", "--rounds", "x"], "argument --rounds: 'x' is not an integer"),
    (["http://127.0.0.1:1/room/lab", "--think-s", "nan"], "argument --think-s: must be in 0..60, got nan"),
])
def test_bad_input_is_refused_in_one_line(args: list[str], why: str) -> None:
    r = _rehearse(*args, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and why in r.stderr, r.stderr
    assert r.stdout == ""


def test_an_unreachable_server_and_a_link_to_nothing_are_one_line(live_study: LiveStudy) -> None:
    r = _rehearse(f"http://127.0.0.1:{free_port()}/join/nosuchlink", timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot connect" in r.stderr, r.stderr
    r = _rehearse(f"{live_study.url}/join/nosuchlink", timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "HTTP 404" in r.stderr, r.stderr
