"""The attribution user study (paper §VI-D) as one oTree app: models, hooks and pages.

Where the rest is:

- ``study_app/config.py``: the session config, checked (the keys and defaults: settings.py; docs/experimenter.md);
- ``study_app/live.py``: session set-up, the live protocol of the Practice and Rounds pages (documented there),
  the admin report's numbers;
- ``study_app/exports.py``: the responses export (contracts.responses) and the trial export;
- ``study_app/otree_internals.py``: the few oTree internals the app relies on, behind one adapter;
- pure parts: ``rounds`` (layouts, answers, the phases), ``allocation``, ``conditions``, ``stimuli`` (the bundle),
  ``session_state`` (the live allocation state).

Environment: ``STUDY_BUNDLE`` (default bundle), ``STIMULUS_BASE_URL`` (where browsers fetch images; when unset,
session creation copies the bundle's images into ``_static/stimuli/``), plus oTree's own (settings.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from otree.api import BaseConstants, BaseGroup, BasePlayer, BaseSubsession, ExtraModel, Page, models, widgets

from deploy.gate import MIN_SCREEN, RoomRule, rule_for
from study_app import exports, live
from study_app.config import study_settings
from study_app.rounds import MAIN, PRACTICE

doc = """Which reconstruction looks most like the target? The deepfake-attribution user study (paper §VI-D)."""


class C(BaseConstants):
    NAME_IN_URL = "study"
    PLAYERS_PER_GROUP = None  # oTree refuses 1; creating_session puts each player in a group of its own
    NUM_ROUNDS = 1


class Subsession(BaseSubsession):
    pass


class Group(BaseGroup):
    pass


class Player(BasePlayer):
    consent = models.BooleanField(  # no initial value: neither answer is preselected
        label="I have read the information above and agree to take part.",
        choices=[[True, "Yes, I agree to take part"], [False, "No, I do not want to take part"]],
        widget=widgets.RadioSelect)
    prolific_study_id = models.StringField(blank=True, initial="")
    prolific_session_id = models.StringField(blank=True, initial="")
    placebo_rounds = models.StringField(initial="")   # "3,57": 1-based placebo rounds of this participant
    seen = models.LongStringField(initial="")         # target indices served to this participant (any phase)
    practice_done = models.IntegerField(initial=0)
    rounds_done = models.IntegerField(initial=0)
    cur_trial_id = models.IntegerField(initial=0)     # first unanswered served trial of the current phase
    next_trial_id = models.IntegerField(initial=0)    # the one after it (served for preloading)
    started_rounds_at = models.FloatField(blank=True)
    finished_at = models.FloatField(blank=True)


class Trial(ExtraModel):
    """One served round. Ground truth columns never leave the server."""

    player = models.Link(Player)
    phase = models.StringField()           # "practice" | "main"
    round_number = models.IntegerField()
    token = models.StringField()
    target_index = models.IntegerField()
    target_id = models.StringField()
    true_generator = models.StringField()
    condition = models.StringField()       # the target's condition (bundle), copied into the export
    is_placebo = models.BooleanField()
    row_order = models.StringField()       # contract format: "|"-joined, PLACEBO for the copies row
    layout = models.StringField()          # Layout.encode(): slot -> "generator:attempt"
    served_at = models.FloatField()        # server unix time the trial was created (allocated)
    shown_at = models.FloatField()         # server unix time it was first sent as the current round
    answered_at = models.FloatField()
    choice = models.IntegerField()         # slot 1..n (None until answered)
    chosen_generator = models.StringField()
    chosen_attempt = models.IntegerField()
    response_ms = models.FloatField()      # browser-measured


# --------------------------------------------------------------------------------------------------- hooks


def creating_session(subsession: Subsession) -> None:
    live.create_session(subsession)


def vars_for_admin_report(subsession: Subsession) -> dict[str, Any]:
    return live.admin_report(subsession)


def live_practice(player: Player, data: Any) -> dict[int, dict[str, Any]]:
    return live.live_method(player, data, PRACTICE)


def live_rounds(player: Player, data: Any) -> dict[int, dict[str, Any]]:
    return live.live_method(player, data, MAIN)


def custom_export(players: list[Player]) -> Iterator[list[Any]]:
    """The responses export (contracts.responses): one row per answered real round."""
    return exports.responses(Trial, players)


def custom_export_trials(players: list[Player]) -> Iterator[list[Any]]:
    """Every served trial, practice and unanswered ones included (audits, timing)."""
    return exports.trials(Trial, players)


# --------------------------------------------------------------------------------------------------- pages

def form_id_rule(player: Player) -> RoomRule:
    """The rule for the STUDY_ID / SESSION_ID the consent page posts: its room's (settings.PARTICIPANT_ID_RULES,
    as deploy.gate checks them at the door), the default outside rooms."""
    room = player.session.get_room()
    return rule_for(room.name if room is not None else None)


class Consent(Page):
    form_model = "player"
    form_fields = ["consent", "prolific_study_id", "prolific_session_id"]

    @staticmethod
    def vars_for_template(player: Player) -> dict[str, Any]:
        cfg = study_settings(player.session.config)
        return dict(consent_text=cfg.consent_text, rounds=cfg.rounds, minutes=cfg.expected_minutes,
                    fee=cfg.participation_fee, min_width=MIN_SCREEN[0], min_height=MIN_SCREEN[1])

    @staticmethod
    def js_vars(player: Player) -> dict[str, Any]:
        return dict(id_pattern=form_id_rule(player).pattern)

    @staticmethod
    def error_message(player: Player, values: dict[str, Any]) -> str | None:
        if values.get("consent") is not True:
            return ("To take part, choose \"Yes, I agree to take part\" (or close this tab if you do not want to "
                    "take part).")
        rule = form_id_rule(player)
        for key in ("prolific_study_id", "prolific_session_id"):
            value = values.get(key) or ""
            if value and not rule.matches(value):
                return f"{key} is not valid: please open the study again from the recruiting platform's link."
        return None


class Instructions(Page):
    @staticmethod
    def vars_for_template(player: Player) -> dict[str, Any]:
        cfg = study_settings(player.session.config)
        return dict(rounds=cfg.rounds, practice_rounds=cfg.practice_rounds)


class Practice(Page):
    live_method = staticmethod(live_practice)

    @staticmethod
    def is_displayed(player: Player) -> bool:
        return study_settings(player.session.config).practice_rounds > 0

    @staticmethod
    def js_vars(player: Player) -> dict[str, Any]:
        return dict(phase=PRACTICE)

    @staticmethod
    def error_message(player: Player, values: dict[str, Any]) -> str | None:
        if player.practice_done < live.n_rounds(player, PRACTICE):
            return "Please finish the practice rounds first."
        return None


class Rounds(Page):
    live_method = staticmethod(live_rounds)

    @staticmethod
    def js_vars(player: Player) -> dict[str, Any]:
        return dict(phase=MAIN)

    @staticmethod
    def error_message(player: Player, values: dict[str, Any]) -> str | None:
        if player.rounds_done < live.n_rounds(player, MAIN):
            return "Please answer all rounds first."
        return None

    @staticmethod
    def before_next_page(player: Player, timeout_happened: bool) -> None:
        player.finished_at = time.time()
        live.release(player, now=player.finished_at)


class Completion(Page):
    @staticmethod
    def vars_for_template(player: Player) -> dict[str, Any]:
        cfg = study_settings(player.session.config)
        return dict(completion_code=cfg.completion_code, completion_url=cfg.completion_url)

    @staticmethod
    def js_vars(player: Player) -> dict[str, Any]:
        return dict(completion_url=study_settings(player.session.config).completion_url)


page_sequence = [Consent, Instructions, Practice, Rounds, Completion]
