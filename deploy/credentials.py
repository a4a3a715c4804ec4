"""The one secrets rule of the production server, used by settings.py (``otree prodserver`` started directly) and by
deploy.launcher: every refusal is one line naming the variable and what to do. Pure: reads only the mapping given.
"""

from __future__ import annotations

from collections.abc import Mapping

REQUIRED_AUTH_LEVEL = "STUDY"
MIN_ADMIN_PASSWORD = 12
MIN_SECRET_KEY = 32
MIN_REST_KEY = 16
REST_SWITCH = "STUDY_REST"   # "0": run without oTree's REST API (then OTREE_REST_KEY must be unset)
_GENERATE = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"


def rest_enabled(env: Mapping[str, str]) -> bool:
    return env.get(REST_SWITCH, "1").strip() != "0" or bool(env.get("OTREE_REST_KEY"))


def secret_problems(env: Mapping[str, str]) -> list[str]:
    """One line per missing or weak setting (empty when production may start)."""
    out = []
    password = env.get("OTREE_ADMIN_PASSWORD", "")
    if not password.strip():
        out.append(f"OTREE_ADMIN_PASSWORD is not set: export an admin password of at least {MIN_ADMIN_PASSWORD} "
                   "characters")
    elif len(password) < MIN_ADMIN_PASSWORD:
        out.append(f"OTREE_ADMIN_PASSWORD is {len(password)} characters long, must be at least {MIN_ADMIN_PASSWORD}")
    level = env.get("OTREE_AUTH_LEVEL", "")
    if level != REQUIRED_AUTH_LEVEL:
        out.append(f"OTREE_AUTH_LEVEL is {level!r}, must be {REQUIRED_AUTH_LEVEL!r}: without it oTree leaves admin "
                   "pages, the REST API and data exports open to anyone")
    secret = env.get("OTREE_SECRET_KEY", "")
    if len(secret.strip()) < MIN_SECRET_KEY:
        out.append(f"OTREE_SECRET_KEY is missing or shorter than {MIN_SECRET_KEY} characters: export a random "
                   f"secret, e.g. {_GENERATE}")
    if rest_enabled(env):
        rest = env.get("OTREE_REST_KEY", "")
        if len(rest.strip()) < MIN_REST_KEY:
            out.append(f"OTREE_REST_KEY is missing or shorter than {MIN_REST_KEY} characters (the REST API reads "
                       f"every export): export a random key, e.g. {_GENERATE}, or set {REST_SWITCH}=0 to turn the "
                       "REST API off")
    return out
