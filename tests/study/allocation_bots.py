"""oTree bots for tests/study/test_allocation_app.py: a crowd session played through the app's own serving code.

This file becomes ``study_app/tests.py`` of a throwaway oTree project whose other files are links to the real app
(so ``otree test`` runs the real ``creating_session``, ``handle_live`` -> ``_serve`` -> ``study_app.allocation``).
Every bot answers one round per turn of oTree's round-robin bot runner (so participants interleave as a crowd
does), on a simulated clock (one tick per live message, passed as ``now``), and some vanish mid-study (dropouts,
from ``$ALLOC_DROPOUTS``: participant id in session -> the round they leave at, served and never answered). Each
bot, when it stops, writes every served trial of the session (``custom_export_trials``) to
``$ALLOC_OUT/trials-<participant>.csv``; the test reads the fullest one and replays it.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from otree.api import Bot, Submission, SubmissionMustFail, expect
from otree.database import db

from study_app import Completion, Consent, Instructions, Rounds, custom_export_trials
from study_app.live import handle_live
from study_app.rounds import MAIN

CLOCK = [1_000_000.0]   # simulated unix seconds: one tick per live message, whoever sends it


def _live(player: Any, data: dict[str, Any]) -> dict[str, Any]:
    CLOCK[0] += 1.0
    reply = handle_live(player, data, MAIN, now=CLOCK[0])
    db.commit()
    return reply


def _dump(bot: "PlayerBot") -> None:
    rows = list(custom_export_trials(bot.subsession.get_players()))
    out = Path(os.environ["ALLOC_OUT"]) / f"trials-{bot.participant.code}.csv"
    with open(out, "w", newline="") as f:
        csv.writer(f).writerows([["" if v is None else v for v in row] for row in rows])


class PlayerBot(Bot):
    def play_round(self) -> Any:
        drop_at = json.loads(os.environ.get("ALLOC_DROPOUTS", "{}")).get(str(self.participant.id_in_session))
        yield Consent, dict(consent=True)
        yield Instructions
        state = _live(self.player, {"type": "state"})
        while state["type"] == "round":
            if drop_at is not None and state["round"] == drop_at:
                _dump(self)   # vanishes with this round and the next served and unanswered
                return
            reply = _live(self.player, {"type": "answer", "round": state["round"], "token": state["token"],
                                        "choice": 1 + state["round"] % len(state["images"]), "response_ms": 900.0})
            expect(reply["type"], "ack")
            state = reply["state"]
            if state["type"] == "round":
                yield SubmissionMustFail(Rounds, check_html=False)   # the next participant's turn
        yield Submission(Rounds, check_html=False)
        _dump(self)
        yield Submission(Completion, check_html=False)
