"""deploy.gate's pure rules (the live tests in this folder show them at work in the real server)."""

from __future__ import annotations

import pytest

from types import SimpleNamespace

from deploy import gate
from deploy.gate import ALPHABETS, RoomRule, cross_origin, needs_screen_check, problem
from study_app.csv_safety import neutralise

ROOMS = {"prolific": RoomRule("prolific", label_required=True), "lab": RoomRule("lab"), "mt": RoomRule("mturk")}


def check(path: str, query: str = "", method: str = "GET") -> str | None:
    return problem(method=method, path=path, query=query.encode(), rooms=ROOMS)


@pytest.mark.parametrize("room, good, bad", [
    ("prolific", "5f1e2d3c4b5a69788796a5b4", ["5f1e2d3c4b5a69788796a5b", "5f1e2d3c4b5a69788796a5b4z", "x" * 24]),
    ("mt", "A1B2C3D4", ["A1B2C3D", "a1b2c3d4", "A" * 65]),
    ("lab", "seat-07_b", ["", "a b", "<b>", "x" * 65, "é", "-2-3", "-"]),   # no leading '-': a formula
])
def test_room_alphabets(room: str, good: str, bad: list[str]) -> None:
    assert check(f"/room/{room}", f"participant_label={good}") is None
    for label in bad:
        if label == "":   # an empty label means "none": refused only where the room requires one
            continue
        assert "participant_label" in (check(f"/room/{room}", f"participant_label={label}") or ""), label
    assert check(f"/room/{room}", f"participant_label={good}&STUDY_ID=%3Cx%3E") is not None


def test_required_label_and_other_doors() -> None:
    assert "participant id" in (check("/room/prolific") or "")
    assert "participant id" in (check("/room/prolific", method="HEAD") or "")   # Starlette answers HEAD with get()
    assert check("/room/prolific", "participant_label=5f1e2d3c4b5a69788796a5b4", method="HEAD") is None
    assert check("/room/lab") is None
    assert check("/join/abcd", "participant_label=%3Cimg%3E") is not None   # the lab alphabet elsewhere
    assert check("/InitializeParticipant/abc", "participant_label=ok-1") is None
    assert check("/MTurkStart/abc", "workerId=A1B2C3D4E5&assignmentId=3X4Y5Z") is None
    assert "workerId" in (check("/MTurkStart/abc", "workerId=%3Cimg%3E") or "")
    assert check("/MTurkLandingPage/abc", "assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE") is None   # MTurk's preview


@pytest.mark.parametrize("path, query", [
    ("/room/lab", "participant_label=a%00b"), ("/room/lab", "x=%0d%0a"), ("/p/a\x00b/", ""),
    ("/static/../_static_x/s", ""), ("/static/./x", ""), ("/static/..\\_static_x", ""), ("/room/lab", "x=%ff"),
])
def test_control_characters_dots_and_bad_utf8(path: str, query: str) -> None:
    assert check(path, query) is not None


def test_screen_check_only_on_entry_links() -> None:
    assert needs_screen_check(method="GET", path="/room/lab", query=b"participant_label=a")
    assert not needs_screen_check(method="GET", path="/room/lab", query=b"screen_ok=1")
    assert not needs_screen_check(method="GET", path="/p/abc/study/Consent/1", query=b"")
    assert needs_screen_check(method="HEAD", path="/join/abcd", query=b"participant_label=a")


def test_cross_origin_websocket() -> None:
    def scope(origin: str | None, host: str) -> dict:
        headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
        return {"headers": headers}
    assert cross_origin(scope("http://127.0.0.1:9000", "127.0.0.1:8000"))
    assert not cross_origin(scope("http://127.0.0.1:8000", "127.0.0.1:8000"))
    assert not cross_origin(scope(None, "127.0.0.1:8000"))    # not a browser


def test_formula_cells_neutralised() -> None:
    for value in ("=HYPERLINK(1)", "+1", "-2-3", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(value) == "'" + value
    for value in ("abc", "5f1e", "", "'=x"):
        assert neutralise(value) == value
    assert set(ALPHABETS) == {"prolific", "mturk", "lab"}


def test_lab_ids_may_not_start_a_formula() -> None:
    """A lab label or STUDY_ID "-2-3" went into oTree's own wide export (which the app cannot neutralise) as a
    formula; '_' and digits may still start one, '-' may follow."""
    lab = RoomRule("lab")
    assert lab.matches("_x") and lab.matches("7-a-") and lab.matches("a" * 64) and not lab.matches("a" * 65)
    assert not any(lab.matches(v) for v in ("-2-3", "-", "=1", "+1", "@x"))
    assert "not starting with '-'" in (check("/join/abcd", "participant_label=-2-3") or "")


def test_consent_form_ids_follow_the_rooms_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consent page's STUDY_ID / SESSION_ID were checked against the lab rule in every room: "abc" passed in
    the Prolific room. Now the room's rule (settings.PARTICIPANT_ID_RULES via deploy.gate.rule_for)."""
    from study_app import Consent
    monkeypatch.setitem(gate._CONFIGURED, "rooms", ROOMS)

    def player(room: str | None) -> SimpleNamespace:
        found = SimpleNamespace(name=room) if room is not None else None
        return SimpleNamespace(session=SimpleNamespace(get_room=lambda: found))

    def error(room: str | None, study_id: str) -> str | None:
        return Consent.error_message(player(room), {"consent": True, "prolific_study_id": study_id,
                                                    "prolific_session_id": ""})
    assert error("prolific", "5f1e2d3c4b5a69788796a5b4") is None
    assert "prolific_study_id" in (error("prolific", "abc") or "")
    assert error("lab", "abc") is None and error(None, "abc") is None
    assert "prolific_study_id" in (error("lab", "-5-5") or "")
    assert "prolific_study_id" in (error("mt", "abc") or "")
    assert Consent.js_vars(player("prolific")) == {"id_pattern": ALPHABETS["prolific"]}
