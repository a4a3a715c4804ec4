"""The Prolific entry end to end in Debian's chromium, against the production layout (prodserver + PostgreSQL +
nginx): the room link Prolific sends (docs/experimenter.md section 4) -> the welcome page keeps STUDY_ID and
SESSION_ID -> the consent page carries them and the server records them with the PID as participant label -> the
worker leaves, comes back with the same PID in a fresh browser (no cookies, no storage) -> same participant, same
round, same grid; the export carries the PID."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import psycopg2
import pytest
from playwright.sync_api import Browser, ViewportSize

from harness.local import create_session, session_participants
from tests.study_live.browser import Participant
from tests.study_live.live import LiveStudy

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
LAPTOP: ViewportSize = {"width": 1366, "height": 768}


def _prolific_id() -> str:
    return secrets.token_hex(12)   # Prolific ids are 24 hex characters


def _recorded(live: LiveStudy, label: str) -> tuple[str, str, int]:
    """(prolific_study_id, prolific_session_id, rounds_done) stored on the player whose participant label is
    ``label``, read from the server's PostgreSQL database."""
    with psycopg2.connect(live.server.env["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT p.prolific_study_id, p.prolific_session_id, p.rounds_done FROM study_app_player p "
                    "JOIN otree_participant pp ON p.participant_id = pp.id WHERE pp.label = %s", (label,))
        rows = cur.fetchall()
    assert len(rows) == 1, f"{len(rows)} players with label {label}"
    return rows[0]


def test_prolific_room_link_records_ids_and_a_returning_worker_resumes(live_study: LiveStudy,
                                                                       browser: Browser) -> None:
    session = create_session(live_study.server, config="attribution_study", participants=3, room_name="prolific",
                             modified={"bundle": str(live_study.bundle.root), "rounds": 4, "practice_rounds": 0})
    pid, study_id, session_id = _prolific_id(), _prolific_id(), _prolific_id()
    link = f"{live_study.url}/room/prolific?" + urlencode(
        {"participant_label": pid, "STUDY_ID": study_id, "SESSION_ID": session_id})

    first = browser.new_context(viewport=LAPTOP)
    try:
        page = first.new_page()
        page.goto(link)
        page.wait_for_selector("input[name=consent]", timeout=15_000)
        code = page.url.split("/p/")[1].split("/")[0]
        # the consent form carries the ids the welcome page kept (oTree's room redirect drops the query string)
        assert page.input_value("#id_prolific_study_id") == study_id
        assert page.input_value("#id_prolific_session_id") == session_id
        me = Participant(page)
        me.consent_and_instructions()
        assert _recorded(live_study, pid)[:2] == (study_id, session_id)
        r1 = me.wait_round(1)
        me.click_slot(2)
        r2 = me.wait_round(2)
        me.click_slot(6)
        left_at = me.wait_round(3)
        assert left_at.of == 4
    finally:
        first.close()   # the worker closes the tab

    again = browser.new_context(viewport=LAPTOP)   # another browser: no cookie, no session storage
    try:
        page = again.new_page()
        page.goto(link)
        me = Participant(page)
        back = me.wait_round(timeout_ms=20_000)
        assert page.url.split("/p/")[1].split("/")[0] == code, "a returning PID must get the same participant"
        assert back.round == 3, f"resumed at round {back.round}, left at round 3"
        assert (back.target, back.images) == (left_at.target, left_at.images)
        me.click_slot(1)
        me.wait_round(4)
    finally:
        again.close()

    labels = {p["code"]: p["label"] for p in session_participants(live_study.server, session["code"])}
    assert labels[code] == pid
    assert sum(1 for label in labels.values() if label == pid) == 1
    assert _recorded(live_study, pid) == (study_id, session_id, 3)
    rows = sorted((r for r in live_study.responses(session["code"]) if r.participant_code == code),
                  key=lambda r: r.round_number)
    assert [r.round_number for r in rows] == [1, 2, 3]
    assert {r.participant_label for r in rows} == {pid}
    assert rows[0].target_id != rows[1].target_id and r1.target != r2.target


def test_prolific_link_without_a_pid_is_told_to_come_from_prolific(live_study: LiveStudy, browser: Browser) -> None:
    context = browser.new_context(viewport=LAPTOP)
    try:
        page = context.new_page()
        response = page.goto(f"{live_study.url}/room/prolific?STUDY_ID={_prolific_id()}")
        # refused at the door (deploy.gate: the Prolific room requires a label), before any place is taken
        assert response is not None and response.status == 400
        assert "missing your participant id" in page.inner_text("body")
        assert "/p/" not in page.url
    finally:
        context.close()
