"""The study's session config, checked: one object that session creation, the live messages and the pages read.

The keys and their defaults are set in one place, ``SESSION_CONFIG_DEFAULTS`` in settings.py (oTree merges it into
every session config); docs/experimenter.md lists them, and tests/study/test_config.py keeps that list in step with
settings.py. This module adds no defaults of its own: a missing key is an error naming it. What an empty value
means: ``consent_text`` "" is :data:`DEFAULT_CONSENT`, ``expected_minutes`` 0 is computed from the rounds
(:func:`expected_minutes`), ``stimulus_base_url`` "" is ``$STIMULUS_BASE_URL``, else oTree's static folder
(:func:`study_app.stimuli.base_url`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from study_app import allocation
from study_app.stimuli import StudyConfigError

DEFAULT_CONSENT = (
    "You are invited to take part in a research study on how people compare images. You will see an image "
    "and nine similar images, and pick the one that looks most like it, for a number of rounds. There are no "
    "known risks. Participation is voluntary and you may stop at any time. We record your choices and response "
    "times together with your platform ID; results are published only in aggregate."
)
SECONDS_PER_ROUND = 9.0   # measured pace of the paper's task: 120 rounds in about 20 minutes with the instructions
OVERHEAD_MINUTES = 2      # consent and instructions


@dataclass(frozen=True)
class StudySettings:
    bundle: str
    rounds: int
    practice_rounds: int
    placebo_probability: float
    allocation: str
    votes_per_target: int
    dropout_timeout_s: float
    completion_url: str
    completion_code: str
    stimulus_base_url: str
    consent_text: str              # what the consent page shows (never empty)
    expected_minutes: int          # the duration participants are told (never 0)
    participation_fee: Any         # as the session config holds it (oTree: a currency amount, shown as "$2.00")


def study_settings(config: Mapping[str, Any]) -> StudySettings:
    """Check a session config; raises StudyConfigError with one line naming the key and what is allowed."""

    def value(key: str) -> Any:
        if key not in config:
            raise StudyConfigError(f"session config {key!r} is missing (settings.py SESSION_CONFIG_DEFAULTS sets "
                                   "every key)")
        return config[key]

    def integer(key: str, low: int) -> int:
        v = value(key)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise StudyConfigError(f"session config {key!r} must be an integer >= {low}, got {v!r}")
        return v

    def number(key: str, low: float, high: float) -> float:
        v = value(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not low <= v <= high:
            raise StudyConfigError(f"session config {key!r} must be a number in [{low}, {high}], got {v!r}")
        return float(v)

    def text(key: str) -> str:
        return str(value(key) or "")

    mode = value("allocation")
    if mode not in allocation.MODES:
        raise StudyConfigError(f"session config 'allocation' must be one of {', '.join(allocation.MODES)}, "
                               f"got {mode!r}")
    bundle = value("bundle")
    if not isinstance(bundle, str) or not bundle.strip():
        raise StudyConfigError("session config 'bundle' must name a stimulus bundle directory (or set STUDY_BUNDLE)")
    rounds, practice_rounds = integer("rounds", 1), integer("practice_rounds", 0)
    return StudySettings(
        bundle=bundle, rounds=rounds, practice_rounds=practice_rounds,
        placebo_probability=number("placebo_probability", 0.0, 1.0), allocation=mode,
        votes_per_target=integer("votes_per_target", 1),
        dropout_timeout_s=number("dropout_timeout_s", 1.0, 7 * 24 * 3600.0),
        completion_url=text("completion_url"), completion_code=text("completion_code"),
        stimulus_base_url=text("stimulus_base_url"), consent_text=text("consent_text") or DEFAULT_CONSENT,
        expected_minutes=integer("expected_minutes", 0) or expected_minutes(rounds + practice_rounds),
        participation_fee=value("participation_fee"),
    )


def expected_minutes(n_rounds: int) -> int:
    """The duration participants are told when the config does not set one: a measured pace per round (practice
    included) plus the consent and instructions."""
    return max(1, round(n_rounds * SECONDS_PER_ROUND / 60) + OVERHEAD_MINUTES)
