"""The wire client's rules (study_app/wire.py) without a server: socket URLs, live frames, what a round showed."""

from __future__ import annotations

import json

import pytest

from study_app.wire import (LiveMethodFailed, ProtocolError, Shown, answer_message, live_reply, page_name,
                            participant_code, socket_path, socket_url)

ROUND = {"type": "round", "phase": "main", "round": 3, "of": 10, "token": "t0k", "rows": 3, "cols": 3,
         "target": "/stimuli/a.png", "images": [f"/stimuli/{i}.png" for i in range(9)], "preload": ["/stimuli/n.png"]}


def test_socket_path_is_the_live_scripts_attribute_unescaped() -> None:
    page = ('<script src="/static/otree/js/jquery.js"></script>\n'
            '<script src="/static/otree/js/live.js" id="otree-live" '
            'data-socket-url="/live?session_code=ab&amp;page_name=Rounds&amp;page_index=4"></script>')
    assert socket_path(page) == "/live?session_code=ab&page_name=Rounds&page_index=4"
    assert socket_path('<div data-socket-url="/live?x=1"></div>') == ""   # not oTree's live script
    assert socket_path("<html>Consent</html>") == ""


def test_socket_url_follows_the_page_scheme_and_host() -> None:
    assert socket_url("http://127.0.0.1:8000/p/abc/study/Rounds/4", "/live?a=1") == "ws://127.0.0.1:8000/live?a=1"
    assert socket_url("https://study.example.org/p/abc/study/Rounds/4", "/live?a=1") == \
        "wss://study.example.org/live?a=1"


def test_page_name_and_participant_code() -> None:
    url = "http://h:1/p/x7k2m9/study_app/Rounds/4"
    assert (page_name(url), participant_code(url)) == ("Rounds", "x7k2m9")
    assert (page_name("http://h:1/join/abc"), participant_code("http://h:1/join/abc")) == ("", "")


def test_live_reply_reads_a_frame_as_live_js_does() -> None:
    assert live_reply(json.dumps({"otree_success": True, "live_method_payload": ROUND})) == ROUND
    assert live_reply(json.dumps({"live_method_payload": {"type": "done", "phase": "main"}}))["type"] == "done"
    with pytest.raises(LiveMethodFailed):
        live_reply(json.dumps({"otree_success": False, "live_method_payload": None}))
    for bad in ("not json", "[1]", json.dumps({"otree_success": True, "live_method_payload": {"type": "surprise"}}),
                json.dumps({"otree_success": True, "live_method_payload": None})):
        with pytest.raises(ProtocolError):
            live_reply(bad)


def test_shown_of_a_round_message_and_the_answer_to_it() -> None:
    shown = Shown.of_message(ROUND)
    assert (shown.phase, shown.round, shown.of, shown.token, shown.images[8], shown.preload) == \
        ("main", 3, 10, "t0k", "/stimuli/8.png", ("/stimuli/n.png",))
    assert answer_message(shown, 5, 812.5) == {"type": "answer", "round": 3, "token": "t0k", "choice": 5,
                                               "response_ms": 812.5}
    with pytest.raises(ProtocolError, match="not a round"):
        Shown.of_message({"type": "done", "phase": "main"})
    with pytest.raises(ProtocolError, match="malformed"):
        Shown.of_message({k: v for k, v in ROUND.items() if k != "token"})
