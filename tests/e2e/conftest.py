"""The end-to-end test reuses the live tests' real chromium (Debian's, via Playwright)."""

from tests.study_live.conftest import browser, chromium_path  # noqa: F401  (pytest fixtures)
