"""A real ``dynamic`` session: prodserver + PostgreSQL, participants over oTree's websockets (the live protocol, as
in tests/study_live/test_crash.py), a server restart in the middle. The verdict comes from the REST export.

Participant 1 answers every round with the true generator; participant 2 is served the targets participant 1
voted on (one vote each: closest to settling; ``balanced`` would serve unvoted targets) and disagrees on the first
of them; the server restarts; participant 3 never gets a settled target and is served the disagreement target
first: the tallies were rebuilt from the stored answers."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contracts.responses import PLACEBO, parse_responses
from harness.local import REPO, OTreeServer, Postgres, create_session, export_custom, production_env, start_urls
from study_app.wire import Participant, Shown
from tests.helpers import make_bundle
from tests.helpers.image_index import ImageIndex

pytestmark = [pytest.mark.postgres]
ROUNDS = 4


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with Postgres() as pg:
        yield pg


def _slot(shown: Shown, index: ImageIndex, truth: dict[str, str], *, agree: bool) -> int:
    """A slot of the true generator's row (agree) or of another generator's row; a placebo copy if there is one."""
    target = index[shown.target].target_id
    cells = [index[u] for u in shown.images]
    copies = [i for i, c in enumerate(cells) if c.generator == PLACEBO]
    if copies:
        return copies[0] + 1
    want = [i for i, c in enumerate(cells) if (c.generator == truth[target]) == agree]
    return want[0] + 1


def test_dynamic_session_settles_targets_and_survives_a_restart(postgres: Postgres, tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "b", n_targets=16, image_size=16, seed=5)
    index = ImageIndex.of(bundle)
    truth = {t.target_id: t.true_generator for t in bundle.targets}
    env = production_env(database_url=postgres.create_database("dynamic"), rest_key="dyn-" + secrets.token_hex(8),
                         extra={"STIMULUS_BASE_URL": "/stimuli/"})
    server = OTreeServer(project_dir=REPO, env=env, log_path=tmp_path / "otree.log").start()
    try:
        session = create_session(server, config="attribution_study", participants=3,
                                 modified={"bundle": str(bundle.root), "rounds": ROUNDS, "practice_rounds": 0,
                                           "allocation": "dynamic", "votes_per_target": 3,
                                           "placebo_probability": 0.0})
        starts = start_urls(server, session["code"])

        async def play(start: str, disagree_once: bool) -> None:
            async with aiohttp.ClientSession() as http:
                p = Participant(http, start)
                await p.enter()
                pending = disagree_once

                def policy(shown: Shown) -> int:
                    nonlocal pending
                    placebo = any(index[u].generator == PLACEBO for u in shown.images)
                    agree = placebo or not pending
                    pending = pending and placebo
                    return _slot(shown, index, truth, agree=agree)
                assert len(await p.play(policy)) == ROUNDS
                assert p.page == "Completion"

        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, play(starts[0], False)).result()
            pool.submit(asyncio.run, play(starts[1], True)).result()
            server.stop()
            server.start()  # the allocation state is rebuilt from the stored answers
            pool.submit(asyncio.run, play(starts[2], False)).result()
        rows = parse_responses(export_custom(server, app="study_app", session_code=session["code"]))
    finally:
        server.stop()

    by: dict[str, list[Any]] = {}
    for r in sorted(rows, key=lambda r: (r.participant_code, r.round_number)):
        by.setdefault(r.participant_code, []).append(r)
    codes = [c.split("/")[-1] for c in starts]
    first, second, third = (by[c] for c in codes)
    voted = [{r.target_id for r in p if not r.is_placebo} for p in (first, second, third)]
    assert len(voted[1] & voted[0]) >= 2, "the second participant should settle the first one's targets"
    tallies: dict[str, dict[str, int]] = {}
    for r in first + second:
        if not r.is_placebo:
            tallies.setdefault(r.target_id, {}).setdefault(r.chosen_generator, 0)
            tallies[r.target_id][r.chosen_generator] += 1
    settled = {t for t, c in tallies.items() if max(c.values()) >= 2}
    disagreement = {t for t, c in tallies.items() if len(c) == 2}
    assert settled and len(disagreement) == 1, tallies
    assert not voted[2] & settled, "a settled target was served again after the restart"
    [x] = disagreement
    served_third = [r.target_id for r in third]
    assert x in served_third, "the disagreement target must be the next one served after the restart"
    third_votes = [r.target_id for r in third if not r.is_placebo]
    if x in third_votes:
        assert third_votes[0] == x


@pytest.mark.browser
def test_dynamic_session_in_chromium(postgres: Postgres, browser: Any, tmp_path: Path) -> None:
    """Two participants in Debian's chromium against prodserver + PostgreSQL + nginx: the second one is served the
    targets the first one voted on (``balanced`` would serve fresh ones), and the export has every click."""
    from tests.study_live.browser import Participant, placebo_slots
    from tests.study_live.live import start_live_study, stop_live_study

    bundle = make_bundle(tmp_path / "b", n_targets=12, image_size=16, seed=9)
    index = ImageIndex.of(bundle)
    truth = {t.target_id: t.true_generator for t in bundle.targets}
    live = start_live_study(bundle=bundle, database_url=postgres.create_database("dynbrowser"),
                            log_path=tmp_path / "otree.log")
    try:
        session, starts = live.new_session(2, rounds=3, practice_rounds=0, allocation="dynamic",
                                           placebo_probability=0.0)
        clicked: dict[str, list[str]] = {}
        # the session's one Playwright and chromium (tests/conftest.py): two cannot share a thread
        for start in starts:
            context = browser.new_context(viewport={"width": 1366, "height": 768})
            page = context.new_page()
            page.goto(start)
            code = page.url.split("/p/")[1].split("/")[0]
            me = Participant(page)
            me.consent_and_instructions()
            for k in range(1, 4):
                shown = me.wait_round(k)
                copies = placebo_slots(shown)
                target = index[shown.target].target_id
                slot = copies[0] if copies else 1 + next(
                    i for i, u in enumerate(shown.images) if index[u].generator == truth[target])
                me.click_slot(slot)
                clicked.setdefault(code, []).append(target)
            page.wait_for_url("**/study/Completion/**")
            context.close()
        rows = live.responses(session)
    finally:
        stop_live_study(live)
    assert sorted((r.participant_code, r.target_id) for r in rows) == sorted(
        (c, t) for c, ts in clicked.items() for t in ts)
    first, second = ({r.target_id for r in rows if r.participant_code == c and not r.is_placebo} for c in clicked)
    assert first & second, "the second participant should be served the first one's voted targets"
    assert all(r.correct for r in rows)
