"""One participant in Debian's chromium, consent to completion, against the production layout (prodserver +
PostgreSQL + nginx): practice, every round of a short session incl. a placebo round, keys 1-9, the screenshot
for the docs, the layout at 1366x768 and on a phone, and a leak check over every byte the browser received."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ViewportSize

from contracts.responses import PLACEBO
from study_app.wire import Shown
from tests.helpers.image_index import ImageIndex
from tests.study_live.browser import Participant, Received, placebo_slots, rows_of
from tests.study_live.live import LiveStudy, secret_needles

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "screenshots" / "round.png"
ROUNDS = 5
LAPTOP: ViewportSize = {"width": 1366, "height": 768}


def test_one_participant_consent_to_completion_leaks_nothing(live_study: LiveStudy, browser: Browser) -> None:
    completion = f"{live_study.url}/static/favicon.ico?cc=DONE42"
    session, [start] = live_study.new_session(1, rounds=ROUNDS, practice_rounds=1, placebo_probability=0.0,
                                              completion_code="DONE42", completion_url=completion)
    index = ImageIndex.of(live_study.bundle)
    received = Received()
    context = browser.new_context(viewport=LAPTOP)
    received.attach(context)
    page = context.new_page()
    received.watch(page)
    me = Participant(page)
    page.goto(start)
    code = page.url.split("/p/")[1].split("/")[0]
    me.consent_and_instructions()

    # practice: feedback, then "Next"
    shown = me.wait_round(1)
    assert shown.phase == "practice" and shown.of == 1
    me.click_slot(1)
    page.wait_for_selector("#study-next")
    assert page.locator("#study-grid button.right").count() == 3  # the source row is revealed, practice only
    page.click("#study-next")

    clicked: dict[int, tuple[Shown, int]] = {}
    for k in range(1, ROUNDS + 1):
        shown = me.wait_round(k)
        assert shown.of == ROUNDS and shown.phase == "main"
        assert len(shown.images) == 9 and len(set(shown.images)) >= 7
        copies = placebo_slots(shown)
        slot = copies[1] if copies else 1 + (2 * k) % 9
        (me.press_slot if k % 2 == 0 else me.click_slot)(slot)  # keys 1-9 on even rounds
        clicked[k] = (shown, slot)
    page.wait_for_selector("#completion-code")
    assert page.inner_text("#completion-code") == "DONE42"
    page.wait_for_url("**/favicon.ico?cc=DONE42", timeout=10_000)  # the completion redirect
    context.close()

    placebo_rounds = [k for k, (s, _) in clicked.items() if placebo_slots(s)]
    assert placebo_rounds, "every participant gets at least one placebo round"

    # the export is exactly what the browser clicked
    rows = {r.round_number: r for r in live_study.responses(session) if r.participant_code == code}
    assert sorted(rows) == list(range(1, ROUNDS + 1))
    for k, (shown, slot) in clicked.items():
        r = rows[k]
        chosen = index[shown.images[slot - 1]]
        assert r.target_id == index[shown.target].target_id
        assert list(r.row_order) == rows_of(shown, lambda u: index[u].generator if index[u].target_id ==
                                             r.target_id else "foreign")
        if k in placebo_rounds:
            assert r.is_placebo and r.chosen_generator == PLACEBO and r.chosen_attempt is None and r.correct
        else:
            assert not r.is_placebo and chosen.target_id == r.target_id
            assert (r.chosen_generator, r.chosen_attempt) == (chosen.generator, chosen.attempt)
            truth = {t.target_id: t.true_generator for t in live_study.bundle.targets}[r.target_id]
            assert r.correct == (chosen.generator == truth)
        assert 0 < r.response_ms < 60_000

    # nothing the browser received names a generator, the truth, a placebo, a target or a bundle path
    assert len(received.http) > 20 and len(received.frames) > 2 * ROUNDS
    hits = received.find(secret_needles(live_study.bundle))
    assert not hits, "leaked to the browser:\n" + "\n".join(f"{n!r} in {w}: ...{c}..." for n, w, c in hits[:10])


def test_round_fits_a_laptop_screen_and_phones_are_told_to_use_one(live_study: LiveStudy, browser: Browser,
                                                                   tmp_path: Path) -> None:
    """docs/screenshots/round.png comes from here (taken before the layout is checked) when the test runs with
    UPDATE_SCREENSHOTS=1; otherwise the screenshot goes to a temporary folder and the checkout stays clean."""
    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path / "round.png"
    _, [start] = live_study.new_session(1, rounds=3, practice_rounds=0)
    context = browser.new_context(viewport=LAPTOP)
    try:
        page = context.new_page()
        me = Participant(page)
        page.goto(start)
        me.consent_and_instructions()
        me.wait_round(1)
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        _phone_sees_larger_screen_message(browser, page.url)
        width, height = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        assert width <= LAPTOP["width"], f"horizontal scrollbar at 1366x768: the page is {width} px wide"
        assert height <= LAPTOP["height"], f"vertical scrollbar at 1366x768: the page is {height} px tall"
    finally:
        context.close()


def _phone_sees_larger_screen_message(browser: Browser, url: str) -> None:
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        p = phone.new_page()
        p.goto(url)
        assert p.locator(".study-narrow").first.is_visible()
        assert "at least 900 × 500 pixels" in p.locator(".study-narrow").first.inner_text()
        assert not p.locator(".study-task").first.is_visible()
    finally:
        phone.close()
