"""The session config (study_app.config): one clear line naming the key; the documented keys and defaults are
settings.py's."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from study_app.config import DEFAULT_CONSENT, study_settings
from study_app.stimuli import StudyConfigError

ROOT = Path(__file__).resolve().parents[2]
GOOD: dict[str, Any] = dict(bundle="b", rounds=120, practice_rounds=2, placebo_probability=0.05,
                            allocation="balanced", votes_per_target=3, dropout_timeout_s=600, completion_url="",
                            completion_code="", consent_text="", expected_minutes=0, stimulus_base_url="",
                            participation_fee=2.0)
OTREE_OWN = {"real_world_currency_per_point", "doc"}  # oTree's keys in SESSION_CONFIG_DEFAULTS, not the study's


def test_good_config() -> None:
    s = study_settings(GOOD)
    assert (s.rounds, s.allocation, s.placebo_probability, s.completion_url) == (120, "balanced", 0.05, "")
    assert (s.consent_text, s.expected_minutes) == (DEFAULT_CONSENT, 20)  # empty text, 0 minutes: the built-ins
    custom = study_settings({**GOOD, "consent_text": "Hi", "expected_minutes": 7})
    assert (custom.consent_text, custom.expected_minutes) == ("Hi", 7)


def test_a_missing_key_is_named() -> None:
    config = {k: v for k, v in GOOD.items() if k != "votes_per_target"}
    with pytest.raises(StudyConfigError, match="'votes_per_target' is missing"):
        study_settings(config)


def _settings_defaults() -> dict[str, Any]:
    """SESSION_CONFIG_DEFAULTS as settings.py sets it with none of its environment variables set (in a
    subprocess: importing settings installs oTree's gate)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STUDY_", "STIMULUS_", "OTREE_"))}
    code = "import json, settings; print(json.dumps(settings.SESSION_CONFIG_DEFAULTS))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def _documented_defaults() -> dict[str, str]:
    """docs/experimenter.md's session-config table: key -> the first backticked value of its default cell."""
    text = (ROOT / "docs" / "experimenter.md").read_text(encoding="utf-8")
    table = text[text.index("| key | default | meaning |"):].split("\n\n", 1)[0].splitlines()[2:]
    out = {}
    for row in table:
        keys, default = [cell.strip() for cell in row.strip("|").split("|")[:2]]
        first = re.match(r"`([^`]*)`", default)
        assert first, f"docs/experimenter.md: the default of {keys} does not start with a `value`"
        for key in re.findall(r"`(\w+)`", keys):
            out[key] = first.group(1)
    return out


def _parse(value: str) -> Any:
    if value == '""':
        return ""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def test_the_documented_keys_and_defaults_are_the_settings() -> None:
    """docs/experimenter.md lists exactly the study's keys of settings.py's SESSION_CONFIG_DEFAULTS, each with
    settings.py's default, and study_settings accepts those defaults."""
    defaults = _settings_defaults()
    documented = {key: _parse(value) for key, value in _documented_defaults().items()}
    study_keys = {k: v for k, v in defaults.items() if k not in OTREE_OWN}
    assert set(documented) == set(study_keys), "docs/experimenter.md's session-config table and settings.py differ"
    for key, value in study_keys.items():
        assert documented[key] == value, f"docs/experimenter.md says {key} defaults to {documented[key]!r}, " \
                                         f"settings.py sets {value!r}"
    study_settings(defaults)


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


def test_every_session_config_serves_the_bundle_study_bundle_names() -> None:
    """scripts/demo.sh builds its bundle where it likes (demo_bundle/, demo_bundle_siblings/ with --siblings,
    $DEMO_BUNDLE) and says so through STUDY_BUNDLE: no session config may pin another bundle (the demo config once
    did, and `demo.sh --siblings` served a session on a bundle that did not exist)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STUDY_", "STIMULUS_", "OTREE_"))}
    code = ("import json, settings; print(json.dumps({c['name']: {**settings.SESSION_CONFIG_DEFAULTS, **c}['bundle'] "
            "for c in settings.SESSION_CONFIGS}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=120, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(ROOT), "STUDY_BUNDLE": "/somewhere/my_bundle"})
    assert proc.returncode == 0, proc.stderr
    bundles = json.loads(proc.stdout)
    assert "demo" in bundles and set(bundles.values()) == {"/somewhere/my_bundle"}, bundles


def test_mturk_hit_text_names_no_fixed_duration_or_image_count() -> None:
    """The HIT said "~20 min" and "120 images" whatever the session's rounds (the consent page computes both)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STUDY_", "STIMULUS_", "OTREE_"))}
    code = ("import json, settings; print(json.dumps([c.get('mturk_hit_settings', {}) for c in "
            "settings.SESSION_CONFIGS]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT),
                          "STUDY_ROUNDS": "10"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    hits = [h for h in json.loads(proc.stdout) if h]
    assert hits
    for hit in hits:
        text = f"{hit['title']} {hit['description']}"
        assert not re.search(r"\d+\s*(min|images|rounds)", text), text
    template = (ROOT / "_templates" / "global" / "mturk_template.html").read_text()   # sent to MTurk as is
    assert not re.search(r"\d+\s*(min|target images|images|rounds)", template), template
