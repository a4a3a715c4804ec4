"""The dress rehearsal's rules without a server (study_app/rehearse.py): which hosts, which links, each entry."""

from __future__ import annotations

import random
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from deploy.gate import ALPHABETS
from study_app.rehearse import BadInput, entry_url, is_loopback, parse_link, percentile


def test_only_loopback_or_a_host_named_as_mine() -> None:
    assert all(is_loopback(h) for h in ("localhost", "127.0.0.1", "127.3.2.1", "::1"))
    assert not any(is_loopback(h) for h in ("example.org", "10.0.0.1", "192.168.1.2", "0.0.0.0", "localhost.evil"))
    assert parse_link("http://[::1]:8000/join/abc").allowed_hosts == {"::1"}
    link = parse_link("https://Study.Example.org/room/prolific", hosts_mine=["study.example.org", "cdn.example.org"])
    assert (link.kind, link.allowed_hosts) == ("room", {"study.example.org", "cdn.example.org"})
    with pytest.raises(BadInput, match="192.168.1.2 is not loopback"):
        parse_link("http://192.168.1.2/join/abc")


@pytest.mark.parametrize("path", ["/", "/room/", "/join/a/b", "/p/abc/study_app/Consent/1", "/InitializeParticipant/x",
                                  "/SessionStartLinks/abc", "/roomx/lab"])
def test_only_room_and_session_wide_links(path: str) -> None:
    with pytest.raises(BadInput, match="not a room link"):
        parse_link("http://127.0.0.1:8000" + path)


def test_each_room_entry_has_its_own_label_valid_in_every_room_rule_and_placeholders_filled() -> None:
    link = parse_link("http://127.0.0.1:8000/room/prolific?participant_label={{%PROLIFIC_PID%}}"
                      "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID=fixed")
    rng = random.Random(1)
    queries = [parse_qs(urlsplit(entry_url(link, rng)).query) for _ in range(3)]
    labels = [q["participant_label"][0] for q in queries]
    assert len(set(labels)) == 3
    assert all(re.fullmatch(ALPHABETS[a], x) for a in ("prolific", "mturk", "lab") for x in labels)
    assert all(re.fullmatch(ALPHABETS["prolific"], q["STUDY_ID"][0]) for q in queries)
    assert all(q["SESSION_ID"] == ["fixed"] and q["screen_ok"] == ["1"] for q in queries)
    join = parse_qs(urlsplit(entry_url(parse_link("http://localhost/join/abc"), rng)).query)
    assert "participant_label" not in join and join["screen_ok"] == ["1"]


def test_percentile() -> None:
    assert percentile([i / 1000 for i in range(100, 0, -1)], 0.5) == 0.051
    assert percentile([], 0.5) != percentile([], 0.5)   # nan


def test_an_entry_refused_with_429_for_ever_ends_at_the_deadline_in_one_line() -> None:
    """A front end that answers every entry with HTTP 429 (rate limited): the rehearsal retries, but only until
    --deadline-s, then says so in one line (exit 2) instead of waiting for ever."""
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    class TooMany(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(429)
            self.send_header("Retry-After", "1")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), TooMany)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        root = Path(__file__).resolve().parents[2]
        url = f"http://127.0.0.1:{server.server_address[1]}/room/lab"
        r = subprocess.run([sys.executable, "-m", "study_app.rehearse", url, "--participants", "1", "--rounds", "1",
                            "--deadline-s", "3"], cwd=root, capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "429" in lines[0] and "--deadline-s 3" in lines[0], r.stderr
