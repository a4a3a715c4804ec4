"""The whole path, the way a real study runs it:

tiny-zoo bundle from the pipeline's CLI (its own environment) -> the study on prodserver + PostgreSQL + nginx ->
three protocol-level bots and one chromium participant -> the responses export through oTree's REST API ->
``python -m analysis report`` -> every number of summary.json equals what those participants did, computed here
plainly from the test's own log of their clicks and the bundle.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from contracts.bundle import Bundle, read_bundle
from contracts.responses import PLACEBO
from contracts.summary import read_summary
from harness.local import Postgres
from study_app.wire import BlockingParticipant, Policy, Shown
from tests.helpers.image_index import Cell, ImageIndex
from tests.helpers.plain_summary import plain_summary
from tests.study_live.browser import Participant, Received
from tests.study_live.conftest import CHROMIUM, CHROMIUM_ARGS, require
from tests.study_live.live import LiveStudy, secret_needles, start_live_study, stop_live_study

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PIPELINE_PYTHON = REPO / ".venv-pipeline" / "bin" / "python"
ROUNDS = 8
MIN_VOTES = 2


def build_tiny_bundle(out: Path, *, targets: int, steps: int, seed: int, conditions: tuple[str, ...] = ()) -> Bundle:
    """A real bundle: the tiny zoo's trained generators, real reconstructions, written by the pipeline CLI."""
    if not PIPELINE_PYTHON.exists():
        pytest.fail(f"{PIPELINE_PYTHON} missing: run scripts/setup.sh", pytrace=False)
    cmd = [str(PIPELINE_PYTHON), "-m", "reconstruction_pipeline", "build", "--zoo", "tiny",
           "--targets-per-generator", str(targets), "--attempts", "3", "--steps", str(steps), "--distance", "pixel",
           "--display-size", "64", "--resample", "nearest", "--seed", str(seed), "--threads", "1", "--no-progress",
           *(["--conditions", ",".join(conditions)] if conditions else []), "--out", str(out)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return read_bundle(out)


def live_study_on(bundle: Bundle, log_dir: Path) -> Iterator[LiveStudy]:
    """The study on prodserver + a fresh PostgreSQL + nginx serving ``bundle``, stopped afterwards."""
    with Postgres() as pg:
        study = start_live_study(bundle=bundle, database_url=pg.url, log_path=log_dir / "otree.log")
        try:
            yield study
        finally:
            stop_live_study(study)


@pytest.fixture(scope="module")
def pipeline_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return build_tiny_bundle(tmp_path_factory.mktemp("e2e") / "bundle", targets=4, steps=60, seed=11)


@pytest.fixture(scope="module")
def live(pipeline_bundle: Bundle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStudy]:
    yield from live_study_on(pipeline_bundle, tmp_path_factory.mktemp("e2e-otree"))


class Truth:
    """What each display image shows, from the bundle: the test's knowledge, never the participants'."""

    def __init__(self, bundle: Bundle) -> None:
        self.index = ImageIndex.of(bundle)
        self.true = {t.target_id: t.true_generator for t in bundle.targets}
        self.distance: dict[tuple[str, str, int | None], float] = {
            (r.target_id, r.generator, r.attempt): r.distance for r in bundle.reconstructions}

    def target(self, shown: Shown) -> str:
        return self.index.target_of(shown.target)

    def cell(self, shown: Shown, slot: int) -> Cell:
        """The cell behind a slot. Placebo copies share the target's URL; a reconstruction identical to its target
        (possible with 8x8 images) would too: the placebo row is the one whose three slots all show the target."""
        target = self.target(shown)
        url = shown.images[slot - 1]
        row = (slot - 1) // 3
        row_urls = shown.images[row * 3:row * 3 + 3]
        if all(u == shown.target for u in row_urls) and sum(u == shown.target for u in shown.images) >= 3:
            placebo_rows = [r for r in range(len(shown.images) // 3)
                            if all(u == shown.target for u in shown.images[r * 3:r * 3 + 3])]
            if row == placebo_rows[0]:
                return Cell(target, PLACEBO, None)
        cells = [c for c in self.index.all(url) if c.target_id == target and c.generator != PLACEBO]
        assert cells, f"slot {slot} shows an image that is not a reconstruction of {target}"
        return cells[0]

    # the participants' policies (slot 1..9 to click), shared by both end-to-end tests
    def closest(self, shown: Shown) -> int:
        """The algorithm's eye: the smallest reconstruction distance on the grid (placebo: the copies)."""
        p = self.placebo_slot(shown)
        if p is not None:
            return p
        target = self.target(shown)
        return min(range(1, 10), key=lambda s: self.distance[(target, self.cell(shown, s).generator,
                                                              self.cell(shown, s).attempt)])

    def truthful(self, shown: Shown) -> int:
        """Always the true generator's row (placebo: the copies)."""
        p = self.placebo_slot(shown)
        if p is not None:
            return p
        target = self.target(shown)
        return next(s for s in range(1, 10) if self.cell(shown, s).generator == self.true[target])

    def careless(self, shown: Shown) -> int:
        """Never the copies row: fails every placebo round."""
        return next(s for s in range(1, 10) if self.cell(shown, s).generator != PLACEBO)

    def middle(self, shown: Shown) -> int:
        """The browser participant: the placebo copies when seen, else the centre image."""
        p = self.placebo_slot(shown)
        return p if p is not None else 5

    def placebo_slot(self, shown: Shown) -> int | None:
        for slot in range(1, len(shown.images) + 1):
            if self.cell(shown, slot).generator == PLACEBO:
                return slot
        return None


def play_in_chromium(start: str, policy: Policy, received: Received | None = None
                     ) -> tuple[str, list[tuple[Shown, int]]]:
    """One participant in Debian's chromium, consent to completion. Runs in its own thread, so its Playwright
    event loop never meets another test's. ``received``, when given, records every response and websocket frame
    the browser got (for a leak check afterwards)."""
    require(CHROMIUM, "chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            if received is not None:
                received.attach(context)
            page = context.new_page()
            if received is not None:
                received.watch(page)
            page.goto(start)
            me = Participant(page)
            me.consent_and_instructions()
            code = page.url.split("/p/")[1].split("/")[0]
            practice = me.wait_round(1)
            assert practice.phase == "practice"
            me.click_slot(policy(practice))
            page.click("#study-next")  # practice feedback, then on to the real rounds
            played = []
            for k in range(1, ROUNDS + 1):
                shown = me.wait_round(k)
                assert shown.phase == "main" and shown.of == ROUNDS
                slot = policy(shown)
                me.click_slot(slot)
                played.append((shown, slot))
            page.wait_for_selector("text=E2E-DONE", timeout=15_000)
            return code, played
        finally:
            browser.close()


def test_pipeline_study_analysis_end_to_end(live: LiveStudy, pipeline_bundle: Bundle, tmp_path: Path) -> None:
    truth = Truth(pipeline_bundle)

    closest, truthful, careless, middle = truth.closest, truth.truthful, truth.careless, truth.middle

    session, starts = live.new_session(4, rounds=ROUNDS, practice_rounds=1, placebo_probability=0.25,
                                       votes_per_target=2, completion_code="E2E-DONE")
    log: dict[str, list[tuple[Shown, int]]] = {}

    # --- three bots over the wire protocol
    for start, policy in zip(starts[:3], (closest, truthful, careless)):
        with BlockingParticipant(start) as bot:
            bot.start()
            assert bot.page == "Consent"
            bot.submit(consent="1", prolific_study_id="", prolific_session_id="")
            assert bot.page == "Instructions"
            bot.submit()
            assert bot.page == "Practice"
            assert {s.phase for s, _ in bot.play(policy)} == {"practice"}
            assert bot.page == "Rounds"
            log[bot.code] = bot.play(policy)
            assert {s.phase for s, _ in log[bot.code]} == {"main"}
            assert "E2E-DONE" in bot.html  # the completion page shows the completion code
            leaks = [n for n in secret_needles(pipeline_bundle) if any(n in blob.lower() for blob in bot.received)]
            assert not leaks, f"ground truth reached a participant: {leaks}"

    # --- one real browser participant
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        code, played = pool.submit(play_in_chromium, starts[3], middle).result()
    log[code] = played

    # --- the export holds exactly what they did
    responses = live.responses(session)
    by_key = {(r.participant_code, r.round_number): r for r in responses}
    assert len(responses) == 4 * ROUNDS
    for participant, played in log.items():
        assert len(played) == ROUNDS
        for shown, slot in played:
            r = by_key[(participant, shown.round)]
            cell = truth.cell(shown, slot)
            assert r.target_id == truth.target(shown)
            assert (r.chosen_generator, r.chosen_attempt) == (cell.generator, cell.attempt)
    assert all(any(r.is_placebo for r in responses if r.participant_code == p) for p in log), \
        "every participant gets at least one placebo round"

    # --- the analysis, as an analyst runs it, on the export as downloaded
    export = tmp_path / "responses.csv"
    export.write_text(live.server.rest("GET", f"/api/export_app_custom?app=study_app&session_code={session}")
                      .decode())
    out = tmp_path / "report"
    done = subprocess.run([sys.executable, "-m", "analysis", "report", "--bundle", str(pipeline_bundle.root),
                           "--responses", str(export), "--out", str(out), "--min-votes", str(MIN_VOTES),
                           "--bootstrap", "200"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "report.html").stat().st_size > 10_000
    summary = read_summary(out / "summary.json")
    expected = plain_summary(pipeline_bundle.root, export, threshold=0.8, min_votes=MIN_VOTES)
    assert expected["images_with_min_votes"] > 0 and expected["participants_valid"] >= 2  # not a vacuous check
    for key, value in expected.items():
        if isinstance(value, float):
            assert summary[key] == pytest.approx(value, abs=1e-9), key
        else:
            assert summary[key] == value, key
    careless_code = list(log)[2]
    assert summary["participants_total"] == 4 and summary["participants_valid"] == 3, \
        f"the careless bot ({careless_code}) must be the one excluded"
