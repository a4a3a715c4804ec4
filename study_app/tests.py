"""oTree bots: ``otree test attribution_study`` plays every page, with SubmissionMustFail cases.

oTree 6's bot helper for live pages returns an async generator it never runs, so the bots call the app's live
protocol function (``handle_live``) directly on the bot's player and commit, exactly what a websocket message
does. Cases: ``honest`` (answers every round, a copy of the target when
a row shows one), ``tamper`` (also sends every kind of bad answer and checks it is
rejected and nothing is counted twice).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from otree.api import Bot, Submission, SubmissionMustFail, expect
from otree.database import db

from contracts.responses import EXPORT_COLUMNS
from contracts.conditions import CLEAN
from study_app import (Completion, Consent, Instructions, Practice, Rounds, custom_export, custom_export_trials, live,
                       vars_for_admin_report)
from study_app.config import study_settings
from study_app.exports import TRIAL_EXPORT_COLUMNS
from study_app.live import handle_live, stimulus_set
from study_app.rounds import MAIN, PRACTICE


def _assert_no_leak(player: Any, text: str, where: str) -> None:
    """None of the contract's secret words (generator ids and labels, target ids: the truth; the truth fields' names)
    in anything sent to the browser, as a whole word in any case."""
    for word in stimulus_set(player).secret_words():
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", text, flags=re.IGNORECASE):
            raise AssertionError(f"{where} reveals {word!r}")


def _send(player: Any, phase: str, data: Any) -> dict[str, Any]:
    reply = handle_live(player, data, phase)
    db.commit()
    _assert_no_leak(player, json.dumps(reply), f"live reply to {data!r}")
    return reply


def _check_shown(player: Any, state: dict[str, Any]) -> None:
    """The round shows its trial's target image as the target; a placebo round's copies row repeats exactly that
    image (perturbed when the target is: conditions.md), and no other slot does."""
    trial, study = live.trial(player.cur_trial_id), stimulus_set(player)
    assert trial is not None
    expect(trial.round_number, state["round"])
    expect(state["target"].rsplit("/", 1)[-1], study.target_image[trial.target_index])
    copies = [i for i, url in enumerate(state["images"]) if url == state["target"]]
    expect(len(copies), state["cols"] if trial.is_placebo else 0)


def _answer(player: Any, phase: str, state: dict[str, Any], choice: int, ms: float = 1234.5) -> dict[str, Any]:
    return _send(player, phase, {"type": "answer", "round": state["round"], "token": state["token"],
                                 "choice": choice, "response_ms": ms})


def _play_phase(bot: PlayerBot, phase: str, tamper: bool) -> None:
    state = _send(bot.player, phase, {"type": "state"})
    n = state["of"] if state["type"] == "round" else 0
    answered = 0
    while state["type"] == "round":
        expect(state["round"], answered + 1)
        _check_shown(bot.player, state)
        again = _send(bot.player, phase, {"type": "state"})  # refresh: same round, same token
        expect(again["token"], state["token"])
        if tamper and state["round"] == 1:
            for bad, code in ((0, "bad_choice"), (len(state["images"]) + 1, "bad_choice"), ("x", "bad_choice"),
                              (True, "bad_choice")):
                reply = _answer(bot.player, phase, state, bad)  # type: ignore[arg-type]
                expect(reply["type"], "error")
                expect(reply["code"], code)
            reply = _send(bot.player, phase, {"type": "answer", "round": state["round"] + 5, "token": state["token"],
                                              "choice": 1, "response_ms": 10})
            expect(reply["code"], "not_served")
            reply = _send(bot.player, phase, {"type": "answer", "round": state["round"], "token": "forged",
                                              "choice": 1, "response_ms": 10})
            expect(reply["code"], "not_served")
            expect(_send(bot.player, phase, "garbage")["code"], "bad_message")
            expect(_send(bot.player, phase, {"type": "answer", "round": 1, "token": state["token"], "choice": 1,
                                             "response_ms": -5})["code"], "bad_message")
        copies = [i + 1 for i, url in enumerate(state["images"]) if url == state["target"]]
        # the honest participant picks a copy of the target when a row shows it (passes the placebo check)
        choice = copies[0] if copies and not tamper else (state["round"] % len(state["images"])) + 1
        reply = _answer(bot.player, phase, state, choice)
        expect(reply["type"], "ack")
        expect(reply["duplicate"], False)
        if phase == PRACTICE:
            expect("feedback" in reply, True)
        if tamper:
            dup = _answer(bot.player, phase, state, choice)  # double click / resend
            expect(dup["type"], "ack")
            expect(dup["duplicate"], True)
            other = _answer(bot.player, phase, state, 1 if choice != 1 else 2)  # a second, different answer
            expect(other["code"], "conflict")
        answered += 1
        state = reply["state"]
    expect(state["type"], "done")
    expect(answered, n)


def _check_condition_rules(player: Any, trials: list[list[Any]]) -> None:
    """conditions.md, on what this participant was served (any bundle version): never two targets of one source,
    practice on clean targets only, real rounds spread over the conditions with counts within one."""
    study = stimulus_set(player)
    index = {tid: i for i, tid in enumerate(study.target_ids)}
    phase_col, target_col = TRIAL_EXPORT_COLUMNS.index("phase"), TRIAL_EXPORT_COLUMNS.index("target_id")
    served = [(t[phase_col], index[t[target_col]]) for t in trials]
    sources = [study.source_of[i] for _, i in served]
    expect(len(set(sources)), len(sources))
    expect([study.conditions[study.condition_of[i]] for phase, i in served if phase == PRACTICE],
           [CLEAN] * sum(1 for phase, _ in served if phase == PRACTICE))
    counts = Counter(study.condition_of[i] for phase, i in served if phase == MAIN)
    per_condition = [counts.get(c, 0) for c in range(len(study.conditions))]
    expect(max(per_condition) - min(per_condition) <= 1, True)


class PlayerBot(Bot):
    cases = ["honest", "tamper"]

    def play_round(self) -> Any:
        tamper = self.case == "tamper"
        cfg = study_settings(self.session.config)
        _assert_no_leak(self.player, self.html, "Consent page")
        yield SubmissionMustFail(Consent, dict(consent=False))
        yield Consent, dict(consent=True, prolific_study_id="STUDY123", prolific_session_id="SESSION456")
        expect(self.player.prolific_study_id, "STUDY123")
        _assert_no_leak(self.player, self.html, "Instructions page")
        yield Instructions
        if cfg.practice_rounds > 0:
            yield SubmissionMustFail(Practice, check_html=False)
            _play_phase(self, PRACTICE, tamper)
            yield Submission(Practice, check_html=False)
        _assert_no_leak(self.player, self.html, "Rounds page")
        yield SubmissionMustFail(Rounds, check_html=False)
        _play_phase(self, MAIN, tamper)
        expect(self.player.rounds_done, cfg.rounds)
        yield Submission(Rounds, check_html=False)
        rows = list(custom_export([self.player]))
        expect(tuple(rows[0]), EXPORT_COLUMNS)
        expect(len(rows) - 1, cfg.rounds)  # one row per real round, practice excluded, nothing twice
        trials = list(custom_export_trials([self.player]))[1:]
        expect(len(trials), cfg.rounds + cfg.practice_rounds)  # lazily created: exactly the rounds served
        expect(all(t[11] <= t[12] <= t[13] for t in trials), True)  # served <= shown <= answered
        expect(trials[0][3], "STUDY123")
        _check_condition_rules(self.player, trials)
        report = vars_for_admin_report(self.subsession)
        own_votes = sum(1 for r in rows[1:] if r[4] == "0")
        expect(report["votes_total"] >= own_votes, True)
        expect(report["n_targets"], len(stimulus_set(self.player).target_ids) - cfg.practice_rounds)
        _assert_no_leak(self.player, self.html, "Completion page")
        if cfg.completion_code:
            expect(cfg.completion_code, "in", self.html)
        yield Submission(Completion, check_html=False)
