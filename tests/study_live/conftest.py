"""Fixtures for the live tests: real PostgreSQL, real oTree prodserver (through deploy.launcher), real nginx, real
chromium. Missing system packages make these tests FAIL with the command that installs them, never skip."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts.bundle import Bundle
from harness.local import NGINX, PG_BIN, Postgres
from tests.helpers import make_bundle
from tests.study_live.live import LiveStudy, start_live_study, stop_live_study

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL_HINT = "run scripts/setup.sh --system (apt-get install -y chromium postgresql nginx-light)"


def require(path: str | Path, what: str) -> None:
    if not Path(path).exists() and not shutil.which(str(path)):
        pytest.fail(f"{what} not found at {path}: {INSTALL_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    require(PG_BIN / "initdb", "PostgreSQL 15")
    with Postgres() as pg:
        yield pg


@pytest.fixture(scope="session")
def nginx_available() -> None:
    require(NGINX, "nginx")


@pytest.fixture(scope="session")
def study_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    # 3 generators x 3 attempts: the paper's 3x3 grid; enough targets for every live test's sessions
    return make_bundle(tmp_path_factory.mktemp("live"), n_targets=12, image_size=16, seed=7)


@pytest.fixture(scope="session")
def live_study(postgres: Postgres, study_bundle: Bundle, nginx_available: None,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStudy]:
    """prodserver + PostgreSQL + nginx serving the images: the production layout, on loopback."""
    live = start_live_study(bundle=study_bundle, database_url=postgres.create_database("live"),
                            log_path=tmp_path_factory.mktemp("otree") / "otree.log")
    yield live
    stop_live_study(live)

# `browser` (one Playwright and one chromium for the whole session) is in tests/conftest.py: tests/security uses
# it too, and two sync Playwright instances cannot run in one thread.
