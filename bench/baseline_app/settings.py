"""The idiomatic page-per-round oTree project that bench/study_load.py compares our live_method app against.

One Page per round, the choice submitted as a form field, one Player row per participant per round (oTree creates
them all at session creation). Same bundle, same 1 target + 3x3 grid per round. Not for real studies.
"""

from os import environ

SESSION_CONFIGS = [
    dict(name="baseline", app_sequence=["baseline_rounds"], num_demo_participants=1,
         bundle=environ.get("BASELINE_BUNDLE", ""), image_base_url="/static/stimuli/"),
]
SESSION_CONFIG_DEFAULTS = dict(real_world_currency_per_point=1.00, participation_fee=0.00, doc="")
PARTICIPANT_FIELDS: list[str] = []
SESSION_FIELDS: list[str] = []
LANGUAGE_CODE = "en"
REAL_WORLD_CURRENCY_CODE = "USD"
USE_POINTS = True
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = environ.get("OTREE_ADMIN_PASSWORD")
DEMO_PAGE_INTRO_HTML = ""
SECRET_KEY = environ.get("OTREE_SECRET_KEY", "baseline-bench-only")
