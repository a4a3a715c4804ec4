"""Refresh, back button, double click, two tabs, a dropped websocket: no answer lost or counted twice.
Real chromium against prodserver + PostgreSQL + nginx; the verdict comes from oTree's REST export."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ViewportSize, WebSocketRoute

from study_app.wire import Shown
from tests.helpers.image_index import ImageIndex
from tests.study_live.browser import Participant
from tests.study_live.live import LiveStudy

pytestmark = [pytest.mark.browser, pytest.mark.postgres]
LAPTOP: ViewportSize = {"width": 1366, "height": 768}


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=LAPTOP)
    yield ctx
    ctx.close()


def _enter(live: LiveStudy, context: BrowserContext, rounds: int) -> tuple[str, str, Participant]:
    session, [start] = live.new_session(1, rounds=rounds, practice_rounds=0)
    page = context.new_page()
    page.goto(start)
    me = Participant(page)
    me.consent_and_instructions()
    return session, page.url.split("/p/")[1].split("/")[0], me


def _check_export(live: LiveStudy, session: str, code: str, chosen: dict[int, tuple[Shown, int]]) -> None:
    """The export has exactly the answered rounds, once each, with the image the winning click chose."""
    index = ImageIndex.of(live.bundle)
    rows = [r for r in live.responses(session) if r.participant_code == code]
    assert sorted(r.round_number for r in rows) == sorted(chosen), "an answer was lost or counted twice"
    for r in rows:
        shown, slot = chosen[r.round_number]
        cell = index[shown.images[slot - 1]]
        assert r.target_id == index[shown.target].target_id
        assert (r.chosen_generator, r.chosen_attempt) == (cell.generator, cell.attempt)


def test_refresh_and_back_button_resume_the_same_round(live_study: LiveStudy, context: BrowserContext) -> None:
    session, code, me = _enter(live_study, context, rounds=5)
    chosen: dict[int, tuple[Shown, int]] = {}
    r1 = me.wait_round(1)
    me.click_slot(4)
    chosen[1] = (r1, 4)
    r2 = me.wait_round(2)
    me.page.reload()
    again = me.wait_round(2)
    assert (again.target, again.images) == (r2.target, r2.images), "a refresh must show the same round layout"
    me.click_slot(2)
    chosen[2] = (r2, 2)
    me.page.reload()  # straight after the click: the answer is either stored (round 3 next) or not (round 2 again)
    after = me.wait_round()
    if after.round == 2:
        me.click_slot(2)
        after = me.wait_round(3)
    assert after.round == 3
    me.page.go_back()  # back to the instructions' URL: oTree sends the participant to their current page
    back = me.wait_round(3)
    assert (back.target, back.images) == (after.target, after.images)
    me.press_slot(9)
    chosen[3] = (after, 9)
    me.wait_round(4)
    _check_export(live_study, session, code, chosen)


def test_double_click_counts_once(live_study: LiveStudy, context: BrowserContext) -> None:
    session, code, me = _enter(live_study, context, rounds=4)
    chosen = {}
    for k in (1, 2):
        shown = me.wait_round(k)
        me.page.dblclick(f"#study-grid button[data-slot='{k + 4}']")
        chosen[k] = (shown, k + 4)
        me.wait_round(k + 1)
        me.page.wait_for_timeout(300)
        assert me.wait_round().round == k + 1, "the second click of a double click answered the next round"
    _check_export(live_study, session, code, chosen)


def test_two_tabs_first_answer_wins(live_study: LiveStudy, context: BrowserContext) -> None:
    """Both tabs follow the participant (oTree sends live replies to every tab of a participant). Tab B is held
    stale (its incoming frames delayed) while tab A answers; B's late, different answer must be rejected."""
    session, code, a = _enter(live_study, context, rounds=4)
    shown_a = a.wait_round(1)
    hold = {"on": False}
    queued: list[tuple[WebSocketRoute, str | bytes]] = []

    def handler(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            if hold["on"]:
                queued.append((ws, message))
            else:
                ws.send(message)

        server.on_message(to_page)
        ws.on_message(lambda message: server.send(message))

    page_b = context.new_page()
    page_b.route_web_socket("**/live?*", handler)
    b = Participant(page_b)
    page_b.goto(a.page.url)
    assert b.wait_round(1).images == shown_a.images
    hold["on"] = True
    a.click_slot(1)
    shown2 = a.wait_round(2)
    assert b.wait_round().round == 1  # B has not heard of A's answer
    b.click_slot(8)
    page_b.wait_for_timeout(500)
    hold["on"] = False
    for ws, message in queued:
        ws.send(message)
    assert b.wait_round(2).images == shown2.images
    b.click_slot(3)  # tabs stay in sync: A moves on too
    a.wait_round(3)
    b.wait_round(3)
    _check_export(live_study, session, code, {1: (shown_a, 1), 2: (shown2, 3)})


def test_dropped_websocket_loses_nothing(live_study: LiveStudy, context: BrowserContext) -> None:
    """The connection drops after the server stored an answer but before the browser heard back: the browser
    reconnects, resends, and the server acknowledges it as a duplicate; a second drop happens before sending."""
    drops = {"ack": 1}
    sockets: list[WebSocketRoute] = []

    def handler(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        sockets.append(ws)

        def to_page(message: str | bytes) -> None:
            if drops["ack"] and isinstance(message, str) and json.loads(message).get(
                    "live_method_payload", {}).get("type") == "ack":
                drops["ack"] -= 1
                ws.close(code=4000, reason="dropped by the test")
                return
            ws.send(message)

        server.on_message(to_page)
        ws.on_message(lambda message: server.send(message))

    context.route_web_socket("**/live?*", handler)
    session, code, me = _enter(live_study, context, rounds=4)
    chosen = {}
    r1 = me.wait_round(1)
    me.click_slot(5)
    chosen[1] = (r1, 5)
    r2 = me.wait_round(2, timeout_ms=20_000)
    assert drops["ack"] == 0 and len(sockets) >= 2, "the test did not drop the connection"
    sockets[-1].close(code=4001, reason="dropped again")  # drop while idle, then answer on the new socket
    me.page.wait_for_timeout(200)
    me.click_slot(7)
    chosen[2] = (r2, 7)
    me.wait_round(3, timeout_ms=20_000)
    _check_export(live_study, session, code, chosen)
