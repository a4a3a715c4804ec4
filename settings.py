"""oTree project settings for the deepfake-attribution user study (study_app).

Environment variables (see docs/experimenter.md):
  STUDY_BUNDLE          the default `bundle` (SESSION_CONFIG_DEFAULTS below)
  STIMULUS_BASE_URL     URL prefix browsers fetch stimulus images from (production: nginx/CDN; default:
                        oTree's /static/stimuli/, filled at session creation)
  STUDY_ROUNDS          the default `rounds`
  STUDY_COMPLETION_URL  the default `completion_url`, e.g. https://app.prolific.com/submissions/complete?cc=CODE
  STUDY_COMPLETION_CODE the default `completion_code`, shown to participants
  OTREE_PRODUCTION=1    production mode: requires OTREE_ADMIN_PASSWORD (>= 12 characters), OTREE_AUTH_LEVEL=STUDY,
                        OTREE_SECRET_KEY (>= 32), OTREE_REST_KEY (>= 16) unless STUDY_REST=0 (deploy/credentials.py)
"""

import sys
from os import environ

from deploy import gate, otree_threads
from deploy.credentials import secret_problems
from deploy.gate import RoomRule

# --------------------------------------------------------------------------------------------------- security


def _production_requested() -> bool:
    """True when oTree runs in production: OTREE_PRODUCTION set (1/true) or started with prodserver."""
    flag = environ.get("OTREE_PRODUCTION", "").strip().lower() not in ("", "0", "false", "no")
    command = " ".join(sys.argv[1:3])
    return flag or "prodserver" in command


def production_problems(env: dict[str, str]) -> list[str]:
    """What is missing or too weak for a safe production start, one line each, most basic first
    (deploy.credentials: the one rule the launcher applies too)."""
    return secret_problems(env)


if _production_requested():
    _problems = production_problems(dict(environ))
    if _problems:
        sys.exit(f"refusing to start in production: {_problems[0]} (see docs/experimenter.md)")  # one line

# Participant ids at the door (deploy/gate.py): per room, the crowd platform's id alphabet, for participant_label,
# STUDY_ID and SESSION_ID; anything else gets a plain 400 page before oTree takes a participant place (the consent
# page checks the STUDY_ID / SESSION_ID it receives against its room's rule too). The alphabets are defined once,
# in deploy.gate.ALPHABETS: "prolific", "mturk", "lab"; or give any regular expression instead of a name.
PARTICIPANT_ID_RULES = {
    "prolific": RoomRule("prolific", label_required=True),   # Prolific's ids; the label is required
    "lab": RoomRule("lab"),                                  # letters, digits, '_', '-' (not first); optional
    # an MTurk room would be RoomRule("mturk")
}
gate.install_on_import(rooms=PARTICIPANT_ID_RULES, default=RoomRule("lab"))

# oTree's pages run in worker threads; their websocket messages (the admin's Monitor, wait pages) must go out on the
# server's event loop, or a page can hang the whole server under oTree's global lock (deploy/otree_threads.py).
# SIGUSR1 writes every thread's stack into the server's log.
otree_threads.install_on_import()
otree_threads.dump_stacks_on()

# --------------------------------------------------------------------------------------------------- sessions
# SESSION_CONFIG_DEFAULTS is the one place that sets the study's session-config keys and their defaults
# (study_app/config.py checks them; docs/experimenter.md lists them, tests/study/test_config.py compares).

_COMPLETION_URL = environ.get("STUDY_COMPLETION_URL", "")
_COMPLETION_CODE = environ.get("STUDY_COMPLETION_CODE", "")

SESSION_CONFIG_DEFAULTS = dict(
    real_world_currency_per_point=1.00,
    participation_fee=2.00,           # the paper paid 2 USD per participant
    doc="",
    bundle=environ.get("STUDY_BUNDLE", "demo_bundle"),
    rounds=int(environ.get("STUDY_ROUNDS", "120")),  # env override for pilots and tests
    practice_rounds=2,
    placebo_probability=0.05,
    allocation="balanced",            # or "dynamic" (stop at a settled majority of k) or "random" (the paper)
    votes_per_target=3,
    dropout_timeout_s=600,
    completion_url=_COMPLETION_URL,
    completion_code=_COMPLETION_CODE,
    consent_text="",                  # empty: study_app.config.DEFAULT_CONSENT
    expected_minutes=0,               # duration told on the consent page; 0: computed from the rounds
    stimulus_base_url="",             # empty: $STIMULUS_BASE_URL, else /static/stimuli/
)

SESSION_CONFIGS = [
    dict(
        name="attribution_study",
        display_name="Attribution study (deployment)",
        app_sequence=["study_app"],
        num_demo_participants=2,
        doc="The paper's user study: 120 rounds, 5% placebo rounds, balanced allocation.",
        # MTurk (oTree's built-in support); create the HIT from the admin, sandbox first.
        mturk_hit_settings=dict(
            keywords="images, comparison, research, study",
            # no duration or image count here: both follow the session's rounds (the consent page states them)
            title="Which image looks most similar? (research study)",
            description="Pick, for each image of a series, the most similar of nine candidate images. The first "
                        "page says how many images and about how long it takes.",
            frame_height=800,
            template="global/mturk_template.html",
            minutes_allotted_per_assignment=60,
            expiration_hours=7 * 24,
            # Blocks repeat workers: oTree grants this qualification on start and the HIT requires its absence.
            grant_qualification_id=environ.get("MTURK_QUALIFICATION_ID", ""),
            qualification_requirements=[
                # filled from MTURK_QUALIFICATION_ID at runtime below
            ],
        ),
    ),
    dict(
        name="demo",
        display_name="Attribution study (demo bundle, 10 rounds)",
        app_sequence=["study_app"],
        num_demo_participants=2,
        rounds=10,
        placebo_probability=0.2,
        # no bundle of its own: the default's ($STUDY_BUNDLE, which scripts/demo.sh sets to the bundle it built:
        # demo_bundle/, demo_bundle_siblings/ with --siblings, or $DEMO_BUNDLE)
        doc="A short run on the bundle scripts/demo.sh built (demo_bundle/ from the shipped faces zoo by default).",
    ),
]

if environ.get("MTURK_QUALIFICATION_ID"):
    SESSION_CONFIGS[0]["mturk_hit_settings"]["qualification_requirements"] = [  # type: ignore[index]
        {"QualificationTypeId": environ["MTURK_QUALIFICATION_ID"], "Comparator": "DoesNotExist"},
    ]

PARTICIPANT_FIELDS: list[str] = []
SESSION_FIELDS = ["study_bundle", "study_fingerprint", "practice_targets", "study_files"]

ROOMS = [
    dict(
        name="prolific",
        display_name="Prolific",
        # link on Prolific: https://HOST/room/prolific?participant_label={{%PROLIFIC_PID%}}
        #                    &STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}
        welcome_page="study_app/RoomWelcome.html",
    ),
    dict(name="lab", display_name="Lab / direct link"),
]

LANGUAGE_CODE = "en"
REAL_WORLD_CURRENCY_CODE = "USD"
USE_POINTS = False

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = environ.get("OTREE_ADMIN_PASSWORD")

DEMO_PAGE_INTRO_HTML = """<p>Deepfake attribution user study (Zhang, Zhou, Shumailov &amp; Papernot, 
"On Attribution of Deepfakes"). Built with oTree (Chen, Schonger &amp; Wickens, 2016).</p>"""

# Development only; production refuses to start unless OTREE_SECRET_KEY is set (above).
SECRET_KEY = environ.get("OTREE_SECRET_KEY", "dev-only-not-secret-study-app")

INSTALLED_APPS = ["otree"]
