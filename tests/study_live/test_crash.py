"""kill -9 of the production server (prodserver + PostgreSQL) while participants answer, then a restart: every
answered (acknowledged) round is in the export, and every participant resumes exactly where they were (same
round, same layout token). Participants speak the live protocol over real websockets (study_app/wire.py)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import random
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from contracts.bundle import Bundle
from contracts.responses import parse_responses
from harness.local import (REPO, OTreeServer, Postgres, create_session, export_custom, production_env,
                          session_participants, start_urls)
from study_app.wire import Participant, Shown, answer_message
from tests.helpers.image_index import ImageIndex

pytestmark = [pytest.mark.postgres]
ROUNDS = 10
PARTICIPANTS = 4


@dataclass
class Walker:
    """A participant answering as fast as the server lets them, remembering what the server acknowledged."""

    p: Participant
    rng: random.Random
    acked: dict[int, str] = field(default_factory=dict)           # round -> URL of the chosen image
    shown: dict[str, Any] = field(default_factory=dict)           # the last round message received
    in_flight: dict[str, Any] | None = None                       # sent, no reply yet

    async def run(self, stop_after: int | None = None) -> None:
        if not self.shown:
            self.shown = await self.p.state()
        while self.shown.get("type") == "round" and (stop_after is None or len(self.acked) < stop_after):
            choice = self.rng.randint(1, 9)
            shown = Shown.of_message(self.shown)
            self.in_flight = {**answer_message(shown, choice, 800.0), "url": shown.images[choice - 1]}
            reply = await self.p.send({k: v for k, v in self.in_flight.items() if k != "url"})
            assert reply["type"] == "ack", reply
            self.acked[reply["round"]] = self.in_flight["url"]
            self.in_flight = None
            self.shown = reply["state"]
            await asyncio.sleep(self.rng.uniform(0.05, 0.15))


def _server(database_url: str, log: Path, port: int | None = None) -> OTreeServer:
    env = production_env(database_url=database_url, rest_key="crash-" + secrets.token_hex(8),
                         extra={"STIMULUS_BASE_URL": "/stimuli/"})
    return OTreeServer(project_dir=REPO, env=env, log_path=log, port=port)


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_kill_9_mid_study_loses_no_answer_and_participants_resume(postgres: Postgres, study_bundle: Bundle,
                                                                   tmp_path: Path) -> None:
    server = _server(postgres.create_database("crash"), tmp_path / "otree.log").start()
    try:
        session = create_session(server, config="attribution_study", participants=PARTICIPANTS,
                                 modified={"bundle": str(study_bundle.root), "rounds": ROUNDS, "practice_rounds": 0})
        codes = [p["code"] for p in session_participants(server, session["code"])]
        starts = [f"{server.url}/InitializeParticipant/{c}" for c in codes]
        # own thread: Playwright's sync API (other tests in this session) keeps an event loop in the main thread
        with ThreadPoolExecutor(1) as pool:
            before, after = pool.submit(asyncio.run, _crash_and_resume(server, starts)).result()
        rows = parse_responses(export_custom(server, app="study_app", session_code=session["code"]))
        per = {c: sorted(r.round_number for r in rows if r.participant_code == c) for c in codes}
        assert all(v == list(range(1, ROUNDS + 1)) for v in per.values()), per
        index = ImageIndex.of(study_bundle)
        exported = {(r.participant_code, r.round_number): (r.chosen_generator, r.chosen_attempt) for r in rows}
        for code, acked in after.items():
            for rnd, url in acked.items():
                cell = index[url]
                assert exported[code, rnd] == (cell.generator, cell.attempt), (code, rnd)
        # every answer acknowledged before the crash survived it unchanged
        for code, acked in before.items():
            assert {r: after[code][r] for r in acked} == acked
    finally:
        server.stop()


Acked = dict[str, dict[int, str]]


async def _crash_and_resume(server: OTreeServer, starts: list[str]) -> tuple[Acked, Acked]:
    async with aiohttp.ClientSession() as http:
        walkers = [Walker(Participant(http, u), random.Random(i)) for i, u in enumerate(starts)]
        for w in walkers:
            await w.p.enter()
        # everybody answers a little, then keeps answering while the server is killed
        await asyncio.gather(*(w.run(stop_after=1 + i) for i, w in enumerate(walkers)))
        tasks = [asyncio.create_task(w.run()) for w in walkers]
        await asyncio.sleep(0.3)
        pids = server.processes()
        server.kill9()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, Exception) for r in results), "a participant finished before the crash"
        assert not [p for p in pids if _alive(p)], "kill -9 left oTree processes running"
        before = {w.p.code: dict(w.acked) for w in walkers}
        assert all(0 < len(a) < ROUNDS for a in before.values()), before

        server.start()  # same port, same database
        for w in walkers:
            await w.p.resume()   # open the participant's link again: oTree sends them to their current page
            assert w.p.page_url.split("/")[-2] == "Rounds", w.p.page_url
            state = await w.p.state()
            answered = len(w.acked)
            if w.in_flight is not None and state["round"] == answered + 2:
                answered += 1     # the in-flight answer was stored before the crash; its ack was lost
                w.acked[w.in_flight["round"]] = w.in_flight["url"]
            assert state["round"] == answered + 1, (w.p.code, state, w.acked)
            if state["round"] == w.shown.get("round"):
                assert state["token"] == w.shown["token"], "the resumed round is not the one that was shown"
            if w.in_flight is not None and w.in_flight["round"] == state["round"] - 1:
                dup = await w.p.send({k: v for k, v in w.in_flight.items() if k != "url"})  # the browser resends an unacknowledged answer
                assert dup["type"] == "ack" and dup["duplicate"], dup
            w.in_flight = None
            w.shown = state
        await asyncio.gather(*(w.run() for w in walkers))
        assert all(w.shown == {"type": "done", "phase": "main"} for w in walkers)
        for w in walkers:
            await w.p.close()
        return before, {w.p.code: w.acked for w in walkers}


def test_balanced_allocation_counts_answers_given_before_a_restart(postgres: Postgres, tmp_path: Path) -> None:
    """The allocation state lives in the server process and is rebuilt from the database after a restart: a
    participant who starts after the restart gets the targets nobody has answered yet, not the ones answered
    before it (balanced allocation picks the least-voted targets; placebo rounds deliberately take voted ones)."""
    from tests.helpers import make_bundle
    bundle = make_bundle(tmp_path / "b", n_targets=24, image_size=16, seed=11)
    server = _server(postgres.create_database("restart"), tmp_path / "otree.log").start()
    try:
        session = create_session(server, config="attribution_study", participants=2,
                                 modified={"bundle": str(bundle.root), "rounds": ROUNDS, "practice_rounds": 0})
        first, second = start_urls(server, session["code"])

        async def play(start: str) -> None:
            async with aiohttp.ClientSession() as http:
                w = Walker(Participant(http, start), random.Random(0))
                await w.p.enter()
                await w.run()
                assert w.shown == {"type": "done", "phase": "main"}
                await w.p.close()

        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, play(first)).result()
            server.stop()
            server.start()
            pool.submit(asyncio.run, play(second)).result()
        rows = parse_responses(export_custom(server, app="study_app", session_code=session["code"]))
        voted: dict[str, set[str]] = {}
        for r in rows:
            if not r.is_placebo:
                voted.setdefault(r.participant_code, set()).add(r.target_id)
        a, b = voted.values()
        assert len(a) + len(b) <= 24 - 2 and not a & b, (sorted(a), sorted(b))
    finally:
        server.stop()
