"""Fixtures for every test folder: one Playwright and one Debian chromium for the whole session (tests/study_live and
tests/security both drive it; two sync Playwright instances cannot run in one thread). Imports are lazy: the
pipeline environment, which also loads this file, has no Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def chromium_path() -> str:
    from tests.study_live.conftest import CHROMIUM, require
    require(CHROMIUM, "chromium")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from tests.study_live.conftest import CHROMIUM_ARGS
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
