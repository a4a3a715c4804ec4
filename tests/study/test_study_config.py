"""Session-config validation (study_app.study_settings): one clear line naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from study_app import study_settings
from study_app.stimuli import StudyConfigError

GOOD: dict[str, Any] = dict(bundle="b", rounds=120, practice_rounds=2, placebo_probability=0.05,
                            allocation="balanced", votes_per_target=3, dropout_timeout_s=600)


def test_good_config() -> None:
    s = study_settings(GOOD)
    assert (s.rounds, s.allocation, s.placebo_probability, s.completion_url) == (120, "balanced", 0.05, "")


@pytest.mark.parametrize("key, value, message", [
    ("rounds", 0, "'rounds' must be an integer >= 1"),
    ("rounds", "120", "'rounds' must be an integer >= 1"),
    ("practice_rounds", -1, "'practice_rounds' must be an integer >= 0"),
    ("placebo_probability", 1.5, "'placebo_probability' must be a number in [0.0, 1.0]"),
    ("allocation", "greedy", "'allocation' must be one of balanced, random"),
    ("votes_per_target", True, "'votes_per_target' must be an integer >= 1"),
    ("dropout_timeout_s", 0, "'dropout_timeout_s' must be a number"),
    ("bundle", "", "'bundle' must name a stimulus bundle directory"),
])
def test_bad_config_names_the_key(key: str, value: object, message: str) -> None:
    with pytest.raises(StudyConfigError) as e:
        study_settings({**GOOD, key: value})
    assert message in str(e.value) and "\n" not in str(e.value)
