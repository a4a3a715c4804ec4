"""oTree project settings for the deepfake-attribution user study (study_app).

Environment variables (see docs/experimenter.md):
  STUDY_BUNDLE          default stimulus bundle for the `attribution_study` config (default: demo_bundle)
  STIMULUS_BASE_URL     URL prefix browsers fetch stimulus images from (production: nginx/CDN; default:
                        oTree's /static/stimuli/, filled at session creation)
  STUDY_ROUNDS          rounds per participant (default 120, the paper)
  STUDY_COMPLETION_URL  completion redirect, e.g. https://app.prolific.com/submissions/complete?cc=CODE
  STUDY_COMPLETION_CODE completion code shown to participants
  OTREE_PRODUCTION=1    production mode: requires OTREE_ADMIN_PASSWORD, OTREE_AUTH_LEVEL=STUDY, OTREE_SECRET_KEY
"""

import sys
from os import environ

# --------------------------------------------------------------------------------------------------- security


def _production_requested() -> bool:
    """True when oTree runs in production: OTREE_PRODUCTION set (1/true) or started with prodserver."""
    flag = environ.get("OTREE_PRODUCTION", "").strip().lower() not in ("", "0", "false", "no")
    command = " ".join(sys.argv[1:3])
    return flag or "prodserver" in command


def production_problems(env: dict[str, str]) -> list[str]:
    """What is missing for a safe production start (empty when all is set)."""
    problems = []
    if not env.get("OTREE_ADMIN_PASSWORD"):
        problems.append("OTREE_ADMIN_PASSWORD")
    if env.get("OTREE_AUTH_LEVEL") != "STUDY":
        problems.append("OTREE_AUTH_LEVEL=STUDY")
    if not env.get("OTREE_SECRET_KEY"):
        problems.append("OTREE_SECRET_KEY")
    return problems


if _production_requested():
    _missing = production_problems(dict(environ))
    if _missing:
        sys.exit("refusing to start in production: set " + ", ".join(_missing) + " in the environment "
                 "(oTree leaves the admin pages, REST API and data exports open otherwise; see docs/experimenter.md)")

# --------------------------------------------------------------------------------------------------- sessions

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
    consent_text="",                  # empty: study_app.DEFAULT_CONSENT
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
            title="Which image looks most similar? (research study, ~20 min)",
            description="Pick, for each of 120 images, the most similar of nine candidate images.",
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
        bundle="demo_bundle",
        rounds=10,
        placebo_probability=0.2,
        doc="A short run on the demo bundle that scripts/demo.sh builds into demo_bundle/ from the shipped faces zoo.",
    ),
]

if environ.get("MTURK_QUALIFICATION_ID"):
    SESSION_CONFIGS[0]["mturk_hit_settings"]["qualification_requirements"] = [  # type: ignore[index]
        {"QualificationTypeId": environ["MTURK_QUALIFICATION_ID"], "Comparator": "DoesNotExist"},
    ]

PARTICIPANT_FIELDS: list[str] = []
SESSION_FIELDS = ["study_bundle", "study_fingerprint", "practice_targets"]

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
