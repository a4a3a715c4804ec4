"""Issue 10 #8: a bundle rewritten under a live session (the old `build` re-run rewrote manifest.json) left every
participant on "Loading..." forever. Now the participant is told, the answers given so far are kept, and the
admin report names the changed file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext

from harness.local import export_custom, start_urls
from tests.security.conftest import Hardened
from tests.study_live.browser import Participant


def test_bundle_changed_under_a_live_session_pauses_it_visibly(hardened: Hardened, front: str, browser: Browser,
                                                               admin: BrowserContext, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(hardened.bundle.root, tmp_path / "bundle"))
    session = hardened.session(1, bundle=bundle, rounds=3)
    [start] = start_urls(hardened.server, session["code"], base_url=front)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.goto(start)
        me = Participant(page)
        me.consent_and_instructions()
        me.wait_round(1)
        me.click_slot(1)
        me.wait_round(2)
        manifest = bundle / "manifest.json"
        data = json.loads(manifest.read_text())
        data["created_at"] = "2030-01-01T00:00:00+00:00"     # what the old re-run of `build` did
        manifest.write_text(json.dumps(data, indent=2))
        me.click_slot(2)
        page.wait_for_selector("text=This study is paused; your answers are saved", timeout=15_000)
        assert page.locator("#study-board.loading").count() == 1  # the grid is gone, not clickable
    finally:
        context.close()
    assert [r.round_number for r in _responses(hardened, session["code"])] == [1]   # round 1 is kept
    report = admin.new_page()
    report.goto(f"{admin.admin_base}/AdminReport/{session['code']}")  # type: ignore[attr-defined]
    text = report.inner_text("body")
    assert "The study is paused" in text and "manifest.json (changed)" in text, text[:2000]
    report.close()


def _responses(hardened: Hardened, code: str) -> list:
    from contracts.responses import parse_responses
    return parse_responses(export_custom(hardened.server, app="study_app", session_code=code))


def test_server_error_reply_is_shown_not_swallowed(hardened: Hardened, front: str, browser: Browser) -> None:
    """oTree's live.js drops a reply with otree_success: false silently (the page span on "Loading..."): the
    rounds page says so, and the unacknowledged answer is resent and stored."""
    session = hardened.session(1, rounds=2)
    [start] = start_urls(hardened.server, session["code"], base_url=front)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    failed = {"left": 1}

    def handler(ws) -> None:  # type: ignore[no-untyped-def]
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            if failed["left"] and isinstance(message, str) and '"answer"' in message:
                failed["left"] -= 1
                ws.send(json.dumps({"otree_success": False}))   # what oTree sends when live_method raised
                return
            server.send(message)

        ws.on_message(to_server)
        server.on_message(lambda message: ws.send(message))

    try:
        context.route_web_socket("**/live?*", handler)
        page = context.new_page()
        page.goto(start)
        me = Participant(page)
        me.consent_and_instructions()
        me.wait_round(1)
        me.click_slot(4)
        page.wait_for_selector("text=The server could not process the last request", timeout=10_000)
        me.wait_round(2, timeout_ms=20_000)                       # the resend got through
    finally:
        context.close()
    assert failed["left"] == 0
    assert [r.round_number for r in _responses(hardened, session["code"])] == [1]
