"""Fixtures for the live tests: real PostgreSQL, real oTree prodserver (through deploy.launcher), real nginx, real
chromium. Missing system packages make these tests FAIL with the command that installs them, never skip."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local import NGINX, PG_BIN, Postgres

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
def chromium_path() -> str:
    require(CHROMIUM, "chromium")
    return CHROMIUM
