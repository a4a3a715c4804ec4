"""A live study for tests: PostgreSQL + oTree prodserver (deploy.launcher) + nginx serving the bundle's images at
/stimuli/ (the production layout), sessions created and data exported through oTree's REST API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.bundle import MANIFEST_FILE, RECONSTRUCTIONS_FILE, TARGETS_FILE, Bundle
from contracts.conditions import CLEAN
from contracts.responses import Response, parse_responses
from harness.local import (REPO, Nginx, OTreeServer, create_session, export_custom, production_env,
                          start_urls)

APP = "study_app"
STIMULI_PREFIX = "/stimuli/"


@dataclass
class LiveStudy:
    server: OTreeServer
    nginx: Nginx
    bundle: Bundle

    @property
    def url(self) -> str:
        return self.nginx.url

    def new_session(self, participants: int, **config: Any) -> tuple[str, list[str]]:
        """Create an ``attribution_study`` session on the fixture bundle; returns its code and start URLs."""
        fields = {"bundle": str(self.bundle.root), **config}
        s = create_session(self.server, config="attribution_study", participants=participants, modified=fields)
        return s["code"], start_urls(self.server, s["code"], base_url=self.url)

    def responses(self, session_code: str | None = None) -> list[Response]:
        text = export_custom(self.server, app=APP, session_code=session_code)
        if text.strip().count("\n") == 0:
            return []
        return parse_responses(text, "<REST export>")


LAB_ENTRY_BURST = 10


def start_live_study(*, bundle: Bundle, database_url: str, log_path: Path) -> LiveStudy:
    env = production_env(database_url=database_url, rest_key=secrets.token_hex(12),
                         extra={"STIMULUS_BASE_URL": STIMULI_PREFIX})
    server = OTreeServer(project_dir=REPO, env=env, log_path=log_path).start()
    try:
        # every test's participants enter from this one address, like a lab's computers behind one address: the
        # documented remedy, a larger entry burst (the production default and its limits: tests/security/)
        nginx = Nginx(upstream_port=server.port, static={STIMULI_PREFIX: bundle.root / "images"},
                      entry_burst=LAB_ENTRY_BURST).start()
    except BaseException:
        server.stop()
        raise
    return LiveStudy(server, nginx, bundle)


def stop_live_study(live: LiveStudy) -> None:
    live.nginx.stop()
    live.server.stop()


def secret_needles(bundle: Bundle) -> list[str]:
    """Everything that must never reach a participant: generator ids and labels (hence the truth), the word
    PLACEBO, target ids, bundle-internal paths and file names, and (conditions.md) condition names and source target
    ids. ``clean`` is left out: as a substring it occurs in the JavaScript libraries every page loads, and the
    bots' word-bounded leak check (study_app/tests.py) covers it in pages and live messages."""
    words = {w for w in bundle.secret_words() if w != CLEAN}     # the contract's one list
    words |= {TARGETS_FILE, RECONSTRUCTIONS_FILE, MANIFEST_FILE, str(bundle.root), f"{bundle.root.name}/images/"}
    return sorted({w.lower() for w in words})
