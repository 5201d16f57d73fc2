"""Fixtures for the browser tests: Chromium via Playwright, a page per test, screenshots on failure.

Without the ``playwright`` package or a Chromium binary the UI tests are skipped, unless
``DP_REQUIRE_UI_TESTS=1`` (what CI sets) turns that into a failure. On a failing test the page is
saved as a PNG under ``$DP_UI_ARTIFACTS`` (default ``/tmp/dp-ui-failures``); the report names the
file, the page's URL and the server's DP_HOME, and shows the tail of the ``dp dev`` log.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

from tests.ui.harness import chromium_path

REQUIRED = os.environ.get("DP_REQUIRE_UI_TESTS", "") not in ("", "0")


def pytest_configure(config):
    config.addinivalue_line("markers", "ui: drives the Dagster UI (dp dev) with headless Chromium")


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install playwright)"
    if chromium_path() is None:
        return "no chromium binary (apt-get install chromium, or set DP_CHROMIUM)"
    return None


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    reason = _missing()
    if reason:
        if REQUIRED:
            pytest.fail(f"UI tests required (DP_REQUIRE_UI_TESTS) but {reason}")
        pytest.skip(reason)
    from tests.ui.harness import browser_context

    with browser_context(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


@pytest.fixture
def page(browser):
    page = browser.new_page()
    page.set_default_timeout(20_000)
    yield page
    page.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    page = item.funcargs.get("page")
    lines = []
    if page is not None and not page.is_closed():
        folder = Path(os.environ.get("DP_UI_ARTIFACTS") or Path(tempfile.gettempdir()) / "dp-ui-failures")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name) + ".png")
        try:
            page.screenshot(path=str(path), full_page=True)
            lines.append(f"screenshot: {path}\npage: {page.url}")
        except Exception as exc:  # the page may be gone with the browser
            lines.append(f"no screenshot ({exc!r})")
    for value in item.funcargs.values():
        if hasattr(value, "log_tail") and hasattr(value, "url"):
            lines.append(f"UI {value.url}, DP_HOME {value.dp_home}\n{value.log_tail(40)}")
    if lines:
        report.sections.append(("UI failure", "\n".join(lines)))
